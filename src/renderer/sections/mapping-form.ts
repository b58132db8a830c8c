/**
 * The add/edit form for one mapping: host, reference, how the secret is injected, optional path.
 * Enter saves, Escape cancels. The engine validates; its message shows under the field it names.
 */
import { PRESETS } from '../../shared/presets.js';
import { errorText } from '../errors.js';
import { field, h, hideMessage, showMessage } from '../dom.js';
import {
  emptyDraft,
  fieldOfMessage,
  presetNames,
  type InjectorChoice,
  type MappingDraft,
} from './mapping-model.js';

export interface MappingFormOptions {
  /** Saves the draft; throws with the engine's message when it is refused. */
  save(draft: MappingDraft): Promise<void>;
  cancelled(): void;
}

export interface MappingForm {
  readonly element: HTMLElement;
  open(draft?: MappingDraft, editing?: boolean): void;
  close(): void;
  readonly isOpen: boolean;
}

const KIND_LABELS: Record<Exclude<InjectorChoice['kind'], 'preset'>, string> = {
  auto: 'Automatic (preset for known hosts, else Bearer)',
  bearer: 'Authorization: Bearer',
  header: 'Custom header…',
  'api-key': 'API key header…',
  basic: 'Basic auth (ref is the password)…',
  query: 'Query parameter…',
};

function presetLabel(name: string): string {
  const preset = PRESETS[name];
  if (!preset) return name;
  const how = preset.injector.type === 'api-key' ? preset.injector.name : 'Authorization: Bearer';
  return `${name} — ${preset.host}, ${how}`;
}

export function createMappingForm(options: MappingFormOptions): MappingForm {
  const host = h('input', {
    type: 'text',
    name: 'host',
    placeholder: 'api.openai.com',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
  });
  const ref = h('input', {
    type: 'text',
    name: 'ref',
    placeholder: 'op://vault/item/field or env://VARIABLE',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    class: 'mono',
  });
  const injector = h(
    'select',
    { name: 'injector' },
    h('option', { value: 'auto' }, KIND_LABELS.auto),
    h(
      'optgroup',
      { label: 'Presets' },
      ...presetNames().map((name) => h('option', { value: `preset:${name}` }, presetLabel(name))),
    ),
    h(
      'optgroup',
      { label: 'Manual' },
      ...(['bearer', 'header', 'api-key', 'basic', 'query'] as const).map((kind) =>
        h('option', { value: kind }, KIND_LABELS[kind]),
      ),
    ),
  );
  const extraName = h('input', {
    type: 'text',
    name: 'extra-name',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const extraFormat = h('input', {
    type: 'text',
    name: 'extra-format',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: '{secret}',
  });
  const path = h('input', {
    type: 'text',
    name: 'path',
    placeholder: '/v1/** (optional: every path)',
    autocomplete: 'off',
    spellcheck: 'false',
  });

  const hostField = field('Host', host, 'Exact host or *.wildcard; add :port if not 443.');
  const refField = field(
    'Secret reference',
    ref,
    'Where the key lives. Never paste the key itself.',
  );
  const injectorField = field('Injection', injector);
  const extraNameField = field('Header name', extraName);
  const extraFormatField = field('Header format', extraFormat, 'Must contain {secret}.');
  const pathField = field('Path', path);
  const formMessage = h('p', { class: 'form-message', 'aria-live': 'polite' });
  formMessage.hidden = true;
  const title = h('h3', { class: 'form-title' }, 'Add mapping');
  const saveButton = h('button', { type: 'submit', class: 'button primary' }, 'Save');
  const cancelButton = h('button', { type: 'button', class: 'button' }, 'Cancel');

  const form = h(
    'form',
    { class: 'editor', novalidate: true, 'aria-label': 'Mapping' },
    title,
    h('div', { class: 'editor-grid' }, hostField.element, refField.element, injectorField.element),
    h(
      'div',
      { class: 'editor-grid' },
      extraNameField.element,
      extraFormatField.element,
      pathField.element,
    ),
    formMessage,
    h('div', { class: 'editor-actions' }, cancelButton, saveButton),
  );
  form.hidden = true;
  let editing = false;

  const messages = {
    host: hostField.message,
    ref: refField.message,
    path: pathField.message,
    injector: injectorField.message,
  };
  const controls = { host, ref, path, injector };

  function clearMessages(): void {
    for (const [key, slot] of Object.entries(messages)) {
      hideMessage(slot);
      controls[key as keyof typeof controls].removeAttribute('aria-invalid');
    }
    hideMessage(formMessage);
  }

  function syncExtras(): void {
    const kind = injector.value;
    const needsName =
      kind === 'header' || kind === 'api-key' || kind === 'basic' || kind === 'query';
    extraNameField.element.hidden = !needsName;
    extraFormatField.element.hidden = kind !== 'header';
    const label = extraNameField.element.querySelector('label');
    if (label) {
      label.textContent =
        kind === 'basic' ? 'User reference' : kind === 'query' ? 'Query parameter' : 'Header name';
    }
    extraName.placeholder =
      kind === 'basic'
        ? 'op://vault/item/username'
        : kind === 'query'
          ? 'key'
          : kind === 'api-key'
            ? 'x-api-key'
            : 'X-Custom-Auth';
    extraName.classList.toggle('mono', kind === 'basic');
  }

  function choice(): InjectorChoice {
    const value = injector.value;
    if (value.startsWith('preset:'))
      return { kind: 'preset', preset: value.slice('preset:'.length) };
    switch (value) {
      case 'bearer':
        return { kind: 'bearer' };
      case 'header':
        return { kind: 'header', name: extraName.value, format: extraFormat.value };
      case 'api-key':
        return { kind: 'api-key', name: extraName.value };
      case 'basic':
        return { kind: 'basic', userRef: extraName.value };
      case 'query':
        return { kind: 'query', param: extraName.value };
      default:
        return { kind: 'auto' };
    }
  }

  let kept: Pick<MappingDraft, 'account' | 'allowPlaintext'> = {};

  function fill(draft: MappingDraft): void {
    host.value = draft.host;
    ref.value = draft.ref;
    path.value = draft.path;
    extraName.value = '';
    extraFormat.value = '';
    const c = draft.injector;
    injector.value = c.kind === 'preset' ? `preset:${c.preset}` : c.kind;
    if (c.kind === 'header') {
      extraName.value = c.name;
      extraFormat.value = c.format;
    } else if (c.kind === 'api-key') extraName.value = c.name;
    else if (c.kind === 'basic') extraName.value = c.userRef;
    else if (c.kind === 'query') extraName.value = c.param;
    kept = {
      ...(draft.account !== undefined ? { account: draft.account } : {}),
      ...(draft.allowPlaintext ? { allowPlaintext: true } : {}),
    };
    syncExtras();
  }

  function close(): void {
    form.hidden = true;
    clearMessages();
    options.cancelled();
  }

  injector.addEventListener('change', syncExtras);
  cancelButton.addEventListener('click', close);
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      close();
    }
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (saveButton.disabled) return;
    clearMessages();
    const draft: MappingDraft = {
      host: host.value,
      ref: ref.value,
      path: path.value,
      injector: choice(),
      ...kept,
    };
    saveButton.disabled = true;
    options
      .save(draft)
      .then(() => {
        form.hidden = true;
        clearMessages();
      })
      .catch((err: unknown) => {
        const message = errorText(err);
        const where = fieldOfMessage(message);
        if (where) {
          showMessage(messages[where], 'error', message);
          controls[where].setAttribute('aria-invalid', 'true');
          controls[where].focus();
        } else {
          showMessage(formMessage, 'error', message);
        }
      })
      .finally(() => {
        saveButton.disabled = false;
      });
  });

  return {
    element: form,
    get isOpen() {
      return !form.hidden;
    },
    open(draft = emptyDraft(), isEdit = false) {
      editing = isEdit;
      title.textContent = editing ? 'Edit mapping' : 'Add mapping';
      saveButton.textContent = editing ? 'Save changes' : 'Add mapping';
      clearMessages();
      fill(draft);
      form.hidden = false;
      (editing ? ref : host).focus();
      if (editing) ref.select();
    },
    close,
  };
}
