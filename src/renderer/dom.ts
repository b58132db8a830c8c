/**
 * A tiny element builder. Text always goes in through text nodes (never innerHTML), so nothing the
 * engine or the user typed can become markup.
 */
type Child = Node | string | number | null | undefined | false;
type Listener = (event: Event) => void;
export type Props = Record<string, string | number | boolean | undefined | null | Listener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') {
      element.addEventListener(key.replace(/^on/, '').toLowerCase(), value);
    } else if (key === 'class') {
      element.className = String(value);
    } else if (key === 'value' && 'value' in element) {
      (element as HTMLInputElement).value = String(value);
    } else {
      element.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Element, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(typeof child === 'number' ? String(child) : child);
  }
}

/** `<label>` + control + hint + a slot for its inline message, wired for screen readers. */
export function field(
  label: string,
  control: HTMLInputElement | HTMLSelectElement,
  hint?: string,
): { element: HTMLElement; message: HTMLElement } {
  const id = control.id || uniqueId('field');
  control.id = id;
  const message = h('p', { class: 'field-message', id: `${id}-message`, 'aria-live': 'polite' });
  message.hidden = true;
  const hintElement = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  control.setAttribute(
    'aria-describedby',
    [hintElement ? `${id}-hint` : '', `${id}-message`].filter(Boolean).join(' '),
  );
  const element = h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hintElement,
    message,
  );
  return { element, message };
}

let counter = 0;
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

export type MessageKind = 'error' | 'ok' | 'info';

const fadeTimers = new WeakMap<HTMLElement, ReturnType<typeof setTimeout>>();

/**
 * Shows (or, with an empty text, hides) a message in its slot. Confirmations in a section's
 * banner (`.section-message`) go away by themselves after a few seconds; errors stay.
 */
export function showMessage(slot: HTMLElement, kind: MessageKind, text: string): void {
  clearTimeout(fadeTimers.get(slot));
  slot.textContent = text;
  slot.hidden = text.length === 0;
  slot.dataset.kind = kind;
  slot.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  if (kind === 'ok' && text && slot.classList.contains('section-message')) {
    fadeTimers.set(
      slot,
      setTimeout(() => {
        if (slot.textContent === text) slot.hidden = true;
      }, 6000),
    );
  }
}

export function hideMessage(slot: HTMLElement): void {
  showMessage(slot, 'info', '');
}

/** Disables the button while `action` runs; errors go to `onError`. */
export async function busy(
  button: HTMLButtonElement,
  action: () => Promise<void>,
  onError: (err: unknown) => void,
): Promise<void> {
  if (button.disabled) return;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await action();
  } catch (err) {
    onError(err);
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/**
 * A destructive button that asks once: the first press turns it into "Confirm …", the second
 * acts. It reverts after a few seconds, on blur, or on Escape.
 */
export function confirmButton(
  label: string,
  confirmLabel: string,
  action: () => Promise<void>,
  onError: (err: unknown) => void,
): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'button destructive-text' }, label);
  let armed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const disarm = () => {
    armed = false;
    clearTimeout(timer);
    button.textContent = label;
    button.classList.remove('armed');
  };
  button.addEventListener('click', () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      button.classList.add('armed');
      timer = setTimeout(disarm, 4000);
      return;
    }
    disarm();
    void busy(button, action, onError);
  });
  button.addEventListener('blur', disarm);
  button.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && armed) {
      event.stopPropagation();
      disarm();
    }
  });
  return button;
}

export function button(
  label: string,
  onClick: (event: Event) => void,
  kind: 'default' | 'primary' | 'plain' = 'default',
): HTMLButtonElement {
  const cls = kind === 'primary' ? 'button primary' : kind === 'plain' ? 'button plain' : 'button';
  return h('button', { type: 'button', class: cls, onclick: onClick }, label);
}

/** A section's title, its subtitle (text, maybe with nodes) and optional actions. */
export function sectionHeader(
  title: string,
  subtitle: readonly Child[],
  actions: readonly HTMLElement[] = [],
): HTMLElement {
  return h(
    'header',
    { class: 'section-header' },
    h('div', {}, h('h1', {}, title), h('p', { class: 'subtitle' }, ...subtitle)),
    ...(actions.length > 0 ? [h('div', { class: 'header-actions' }, ...actions)] : []),
  );
}

/** A titled, rounded group of rows, like a macOS settings pane; a `.group-box` is used as is. */
export function group(title: string | undefined, ...children: Child[]): HTMLElement {
  const only = children.length === 1 ? children[0] : undefined;
  const box =
    only instanceof HTMLElement && only.classList.contains('group-box')
      ? only
      : h('div', { class: 'group-box' }, ...children);
  return h(
    'section',
    { class: 'group' },
    title ? h('h2', { class: 'group-title' }, title) : null,
    box,
  );
}

/** A label on the left, a value (or controls) on the right; `.row-action` children go far right. */
export function row(label: string, ...value: Child[]): HTMLElement {
  return h(
    'div',
    { class: 'row' },
    h('div', { class: 'row-label' }, label),
    h('div', { class: 'row-value' }, ...value),
  );
}

/** The given nodes without the absent ones, for replaceChildren. */
export function present(...items: Array<Node | null | undefined | false>): Node[] {
  return items.filter((item): item is Node => item instanceof Node);
}
