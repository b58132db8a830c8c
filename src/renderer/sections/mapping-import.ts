/**
 * "Import from 1Password": suggestions from the websites on Login, Password and API Credential
 * items. Nothing is saved until the user adds a suggestion, one at a time.
 */
import type { ImportSuggestionView, MappingView } from '../../shared/api.js';
import { button, h, hideMessage, showMessage } from '../dom.js';
import { errorText } from '../errors.js';
import type { SectionContext } from '../section.js';

export interface ImportPanelOptions {
  existing(): readonly MappingView[];
  added(): Promise<void>;
}

export function createImportPanel(
  ctx: SectionContext,
  options: ImportPanelOptions,
): { element: HTMLElement; open(): void } {
  const list = h('ul', { class: 'suggestions' });
  const message = h('p', { class: 'form-message', 'aria-live': 'polite' });
  message.hidden = true;
  const closeButton = button('Done', () => close());
  const element = h(
    'section',
    { class: 'editor import-panel', 'aria-label': 'Import from 1Password' },
    h('h3', { class: 'form-title' }, 'Import from 1Password'),
    h(
      'p',
      { class: 'hint' },
      'Suggested from the websites on your Login, Password and API Credential items. Add the ones you want.',
    ),
    message,
    list,
    h('div', { class: 'editor-actions' }, closeButton),
  );
  element.hidden = true;
  element.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      close();
    }
  });

  function close(): void {
    element.hidden = true;
    list.replaceChildren();
  }

  function mapped(s: ImportSuggestionView): boolean {
    return options
      .existing()
      .some((m) => m.host === s.host && m.port === undefined && m.path === undefined);
  }

  function item(s: ImportSuggestionView): HTMLElement {
    const status = h('span', { class: 'suggestion-status', 'aria-live': 'polite' });
    const add = h('button', { type: 'button', class: 'button small primary' }, 'Add');
    const skip = h('button', { type: 'button', class: 'button small' }, 'Skip');
    const li = h(
      'li',
      { class: 'suggestion', 'data-host': s.host },
      h(
        'div',
        { class: 'suggestion-text' },
        h('span', { class: 'host' }, s.host),
        s.preset ? h('span', { class: 'tag' }, s.preset) : null,
        h('code', { class: 'ref' }, s.ref),
        h('span', { class: 'hint' }, `${s.vault} › ${s.item}`),
      ),
      h('div', { class: 'suggestion-actions' }, status, skip, add),
    );
    if (mapped(s)) {
      add.disabled = true;
      add.textContent = 'Mapped';
      status.textContent = 'already has a mapping';
    }
    add.addEventListener('click', () => {
      add.disabled = true;
      skip.disabled = true;
      hideMessage(message);
      ctx.api['mappings.upsert']({
        host: s.host,
        ref: s.ref,
        ...(s.preset ? { preset: s.preset } : {}),
      })
        .then(async () => {
          li.classList.add('done');
          add.textContent = 'Added';
          status.textContent = '';
          await options.added();
          focusNext(li);
        })
        .catch((err: unknown) => {
          add.disabled = false;
          skip.disabled = false;
          status.textContent = errorText(err);
          status.classList.add('error-text');
        });
    });
    skip.addEventListener('click', () => {
      focusNext(li);
      li.remove();
      if (list.children.length === 0) showMessage(message, 'info', 'Nothing left to import.');
    });
    return li;
  }

  function focusNext(li: HTMLElement): void {
    const next = li.nextElementSibling?.querySelector<HTMLButtonElement>('button:not(:disabled)');
    (next ?? closeButton).focus();
  }

  return {
    element,
    open() {
      element.hidden = false;
      list.replaceChildren();
      showMessage(message, 'info', 'Looking through 1Password…');
      ctx.api['onepassword.suggestions']({})
        .then((found) => {
          if (found.length === 0) {
            showMessage(message, 'info', 'No items with websites that could be mapped.');
          } else hideMessage(message);
          list.replaceChildren(...found.map(item));
          list.querySelector<HTMLButtonElement>('button:not(:disabled)')?.focus();
        })
        .catch((err: unknown) => showMessage(message, 'error', errorText(err)));
      closeButton.focus();
    },
  };
}
