/**
 * Pending approvals: a panel above every section, shown while an agent set to ask waits for the
 * user (docs/agents.md, "Approvals"). One line per agent × mapping × host, with Allow for 8 hours,
 * Always and Deny. Polled every second; a line stays put between polls so a click lands on it.
 */
import type { ApprovalDecision, PendingApprovalView } from '../../shared/api.js';
import { busy, h, hideMessage, showMessage } from '../dom.js';
import { errorText } from '../errors.js';
import { pathOnly, timeOfDay } from '../format.js';
import type { SectionContext } from '../section.js';

const POLL_MS = 1000;

const PRESET_LABEL: Readonly<Record<string, string>> = {
  anthropic: 'Anthropic',
  openai: 'OpenAI',
};

export interface ApprovalsPanel {
  readonly element: HTMLElement;
  start(): void;
}

export function createApprovalsPanel(ctx: Pick<SectionContext, 'api'>): ApprovalsPanel {
  const list = h('ul', { class: 'approvals-list' });
  const message = h('p', { class: 'section-message', 'aria-live': 'polite' });
  message.hidden = true;
  const element = h(
    'section',
    { class: 'approvals', 'aria-label': 'Waiting for your approval', 'aria-live': 'polite' },
    h('h2', { class: 'group-title' }, 'Waiting for your approval'),
    message,
    list,
  );
  element.hidden = true;
  const rows = new Map<string, HTMLElement>();

  async function decide(
    pending: PendingApprovalView,
    decision: ApprovalDecision,
    trigger: HTMLButtonElement,
  ): Promise<void> {
    await busy(
      trigger,
      async () => {
        await ctx.api['approvals.decide']({ id: pending.id, decision });
        rows.get(pending.id)?.remove();
        rows.delete(pending.id);
        element.hidden = rows.size === 0;
        hideMessage(message);
      },
      (err) => showMessage(message, 'error', errorText(err)),
    );
  }

  function rowFor(pending: PendingApprovalView): HTMLElement {
    const label = pending.preset
      ? (PRESET_LABEL[pending.preset] ?? pending.preset)
      : pending.mapping;
    const action = (text: string, decision: ApprovalDecision, cls: string) => {
      const button = h(
        'button',
        { type: 'button', class: `button small ${cls}`, 'data-decision': decision },
        text,
      );
      button.addEventListener('click', () => void decide(pending, decision, button));
      return button;
    };
    return h(
      'li',
      { class: 'approval', 'data-id': pending.id, 'data-agent': pending.agent },
      h(
        'p',
        { class: 'approval-text' },
        h('strong', {}, pending.agent),
        ' wants ',
        h('strong', {}, label),
        ` (${pending.host})`,
        h(
          'span',
          { class: 'hint' },
          ` — ${pending.method} `,
          h('code', {}, pathOnly(pending.path)),
          `, since ${timeOfDay(pending.since)}`,
          pending.waiting > 1 ? `, ${pending.waiting} requests` : '',
        ),
      ),
      h(
        'div',
        { class: 'approval-actions' },
        action('Allow for 8 hours', 'allow', 'primary'),
        action('Always', 'always', ''),
        action('Deny', 'deny', 'destructive-text'),
      ),
    );
  }

  function render(pending: readonly PendingApprovalView[]): void {
    const ids = new Set(pending.map((p) => p.id));
    for (const [id, row] of rows) {
      if (!ids.has(id)) {
        row.remove();
        rows.delete(id);
      }
    }
    for (const p of pending) {
      if (rows.has(p.id)) continue;
      const row = rowFor(p);
      rows.set(p.id, row);
      list.append(row);
    }
    element.hidden = rows.size === 0;
  }

  let started = false;
  async function poll(): Promise<void> {
    try {
      render(await ctx.api['approvals.list']());
    } catch (err) {
      // Not fatal: the sidebar's status already says when Keygate is not answering.
      if (rows.size > 0) showMessage(message, 'error', errorText(err));
    }
    setTimeout(() => void poll(), POLL_MS);
  }

  return {
    element,
    start: () => {
      if (started) return;
      started = true;
      void poll();
    },
  };
}
