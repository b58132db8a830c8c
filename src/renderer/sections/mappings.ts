/**
 * Mappings: which host gets which secret, and how. A table with a per-row Test (ok and a
 * fingerprint, or the reason; never the value), Edit and Delete, stale flags from the engine,
 * the add/edit form, and "Import from 1Password".
 */
import type { MappingTestResult, MappingView } from '../../shared/api.js';
import { button, confirmButton, h, hideMessage, showMessage, sectionHeader } from '../dom.js';
import { errorText } from '../errors.js';
import { plural } from '../format.js';
import type { Section, SectionContext } from '../section.js';
import { createImportPanel } from './mapping-import.js';
import { createMappingForm } from './mapping-form.js';
import {
  draftFromView,
  inputFromDraft,
  removeExactly,
  slotOf,
  type MappingDraft,
} from './mapping-model.js';

export function createMappingsSection(ctx: SectionContext): Section {
  let mappings: MappingView[] = [];
  let editingSlot: string | undefined;
  const results = new Map<string, MappingTestResult>();

  const message = h('p', { class: 'section-message', 'aria-live': 'polite' });
  message.hidden = true;
  const onError = (err: unknown) => showMessage(message, 'error', errorText(err));

  const form = createMappingForm({
    save: async (draft) => save(draft),
    cancelled: () => {
      editingSlot = undefined;
      addButton.focus();
    },
  });
  const importPanel = createImportPanel(ctx, {
    existing: () => mappings,
    added: async () => {
      await refresh();
      ctx.changed('mappings');
    },
  });

  const addButton = button('Add Mapping…', () => {
    editingSlot = undefined;
    form.open();
  });
  const importButton = button('Import from 1Password…', () => importPanel.open());
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'table mappings-table' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Host'),
        h('th', { scope: 'col' }, 'Secret reference'),
        h(
          'th',
          { scope: 'col', class: 'actions-col' },
          h('span', { class: 'visually-hidden' }, 'Actions'),
        ),
      ),
    ),
    tbody,
  );
  const empty = h(
    'div',
    { class: 'empty' },
    h('p', { class: 'empty-title' }, 'No mappings yet'),
    h(
      'p',
      {},
      'Map a host to a secret reference, or import suggestions from your 1Password items.',
    ),
  );
  const count = h('span', { class: 'count' });

  const element = h(
    'div',
    { class: 'section-body' },
    sectionHeader(
      'Mappings',
      ['For these hosts, Keygate writes the real key into requests.'],
      [importButton, addButton],
    ),
    message,
    form.element,
    importPanel.element,
    h('div', { class: 'group-box table-box' }, table, empty),
    h('p', { class: 'footnote' }, count),
  );

  async function save(draft: MappingDraft): Promise<void> {
    hideMessage(message);
    const before = mappings.find((m) => slotOf(m) === editingSlot);
    const saved = await ctx.api['mappings.upsert'](inputFromDraft(draft));
    if (before && slotOf(before) !== slotOf(saved)) {
      // Moved to another host/path: the old one goes (upsert only replaces the same slot).
      const all = await ctx.api['mappings.list']();
      await removeExactly(ctx.api, all, before);
    }
    results.delete(saved.name);
    editingSlot = undefined;
    await refresh();
    ctx.changed('mappings');
    showMessage(message, 'ok', before ? `Saved ${saved.name}.` : `Added ${saved.name}.`);
    rowButton(saved.name, 'edit')?.focus();
  }

  function rowButton(name: string, action: string): HTMLButtonElement | null {
    for (const tr of tbody.querySelectorAll<HTMLTableRowElement>('tr[data-name]')) {
      if (tr.dataset.name === name) return tr.querySelector(`button[data-action="${action}"]`);
    }
    return null;
  }

  async function test(view: MappingView, trigger: HTMLButtonElement): Promise<void> {
    trigger.disabled = true;
    try {
      const found = await ctx.api['mappings.test']({ host: view.host });
      const mine = found.find((r) => r.name === view.name) ?? found[0];
      if (mine) results.set(view.name, mine);
    } catch (err) {
      results.set(view.name, { name: view.name, ok: false, reason: errorText(err) });
    } finally {
      trigger.disabled = false;
    }
    // A test may turn a stale flag on or off.
    await refresh();
  }

  function resultLine(result: MappingTestResult): HTMLElement {
    if (result.ok) {
      return h(
        'p',
        { class: 'test-result ok', role: 'status' },
        h('span', { class: 'badge ok' }, 'Resolves'),
        ' ',
        h('code', {}, result.fingerprint ?? ''),
        result.length !== undefined ? ` · ${plural(result.length, 'character')}` : '',
      );
    }
    return h(
      'p',
      { class: 'test-result failed', role: 'status' },
      h('span', { class: 'badge error' }, 'Fails'),
      ' ',
      h('span', { class: 'reason' }, result.reason ?? 'does not resolve'),
    );
  }

  function render(): void {
    const rows: HTMLElement[] = [];
    for (const view of mappings) {
      const testButton = h(
        'button',
        { type: 'button', class: 'button small', 'data-action': 'test' },
        'Test',
      );
      testButton.addEventListener('click', () => void test(view, testButton));
      const editButton = h(
        'button',
        { type: 'button', class: 'button small', 'data-action': 'edit' },
        'Edit',
      );
      editButton.addEventListener('click', () => {
        editingSlot = slotOf(view);
        form.open(draftFromView(view), true);
      });
      const deleteButton = confirmButton(
        'Delete',
        'Confirm Delete',
        async () => {
          hideMessage(message);
          await removeExactly(ctx.api, mappings, view);
          results.delete(view.name);
          await refresh();
          ctx.changed('mappings');
          showMessage(message, 'ok', `Deleted ${view.name}.`);
          addButton.focus();
        },
        onError,
      );
      deleteButton.classList.add('small');
      deleteButton.dataset.action = 'delete';
      const result = results.get(view.name);
      const hostCell = h(
        'td',
        { class: 'host-cell' },
        h(
          'div',
          { class: 'host-line' },
          h('span', { class: 'host' }, view.name),
          view.stale ? h('span', { class: 'badge warning', title: view.stale }, 'Stale') : null,
        ),
        h(
          'div',
          { class: 'injection' },
          view.preset ? h('span', { class: 'tag' }, view.preset) : null,
          describe(view),
        ),
      );
      const tr = h(
        'tr',
        { 'data-name': view.name, class: view.stale ? 'stale' : undefined },
        hostCell,
        h('td', { class: 'ref-cell' }, h('code', { class: 'ref' }, view.ref)),
        h('td', { class: 'actions' }, testButton, editButton, deleteButton),
      );
      rows.push(tr);
      // A test's answer is the freshest word; otherwise why the engine flags it stale.
      const detail = result
        ? resultLine(result)
        : view.stale
          ? h('p', { class: 'stale-reason' }, view.stale)
          : null;
      if (detail) {
        rows.push(
          h(
            'tr',
            { class: 'detail-row', 'data-detail-for': view.name },
            h('td', { colspan: 3 }, detail),
          ),
        );
      }
    }
    tbody.replaceChildren(...rows);
    table.hidden = mappings.length === 0;
    empty.hidden = mappings.length > 0;
    const stale = mappings.filter((m) => m.stale).length;
    count.textContent =
      mappings.length === 0
        ? ''
        : `${plural(mappings.length, 'mapping')}${stale ? `, ${stale} stale` : ''}`;
  }

  async function refresh(): Promise<void> {
    try {
      mappings = await ctx.api['mappings.list']();
      render();
    } catch (err) {
      onError(err);
    }
  }

  return {
    id: 'mappings',
    title: 'Mappings',
    element,
    activate: () => void refresh(),
    deactivate: () => undefined,
    invalidate: (what) => {
      if (what === 'mappings' || what === 'onepassword') void refresh();
    },
  };
}

/** "Authorization: Bearer", "x-api-key", … from the injector (no reference; that has a column). */
function describe(view: MappingView): string {
  const injector = view.injector;
  const how =
    injector.type === 'bearer'
      ? 'Authorization: Bearer'
      : injector.type === 'header'
        ? `${injector.name}: ${injector.format}`
        : injector.type === 'api-key'
          ? `${injector.name} header`
          : injector.type === 'basic' || injector.type === 'basic-user'
            ? 'Basic auth'
            : `?${injector.param}=`;
  return how;
}
