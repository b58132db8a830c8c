/**
 * Activity: usage and budgets (usage-view.ts, polled every few seconds), then the last 200
 * requests and tunnels, newest first, polled every second while shown. Events never hold a
 * secret or a query string (the engine strips it; pathOnly makes sure).
 */
import type { ActivityEvent } from '../../shared/activity.js';
import { h, showMessage, hideMessage, sectionHeader } from '../dom.js';
import { errorText } from '../errors.js';
import { latency, pathOnly, plural, timeOfDay } from '../format.js';
import type { Section, SectionContext } from '../section.js';
import { createUsageView, USAGE_DAYS } from './usage-view.js';

const LIMIT = 200;
const POLL_MS = 1000;
/** Usage changes once per answer and costs a file read without an engine: every 3rd poll. */
const USAGE_EVERY = 3;

const OUTCOME_LABEL: Record<ActivityEvent['outcome'], string> = {
  injected: 'Injected',
  forwarded: 'Forwarded',
  tunneled: 'Tunneled',
  denied: 'Denied',
  error: 'Error',
};

export function createActivitySection(ctx: SectionContext): Section {
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'table activity-table' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Time', 'Host', 'Method', 'Path', 'Status', 'Mapping', 'Latency', 'Outcome'].map(
          (title) => h('th', { scope: 'col' }, title),
        ),
      ),
    ),
    tbody,
  );
  const empty = h(
    'div',
    { class: 'empty' },
    h('p', { class: 'empty-title' }, 'No requests yet'),
    h(
      'p',
      {},
      'Start an agent with its setup from Agents; its requests appear here as they happen.',
    ),
  );
  const count = h('span', { class: 'count' });
  const live = h('span', { class: 'live', 'aria-hidden': 'true' });
  const message = h('p', { class: 'section-message', 'aria-live': 'polite' });
  message.hidden = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let active = false;
  let lastKey = '';
  let polls = 0;
  const usage = createUsageView();

  function rowFor(event: ActivityEvent): HTMLElement {
    const outcome = h(
      'span',
      { class: `badge outcome-${event.outcome}`, title: event.error ?? undefined },
      OUTCOME_LABEL[event.outcome],
    );
    const host = event.port === 443 ? event.host : `${event.host}:${event.port}`;
    return h(
      'tr',
      { 'data-id': String(event.id), 'data-outcome': event.outcome },
      h('td', { class: 'time' }, h('time', { datetime: event.at }, timeOfDay(event.at))),
      h('td', { class: 'host', title: event.agent ? `agent: ${event.agent}` : undefined }, host),
      h('td', { class: 'method' }, event.method ?? ''),
      h('td', { class: 'path' }, h('code', {}, pathOnly(event.path))),
      h('td', { class: 'status' }, event.status !== undefined ? String(event.status) : ''),
      h('td', { class: 'mapping' }, event.mapping ?? ''),
      h('td', { class: 'latency' }, latency(event.latencyMs)),
      h(
        'td',
        { class: 'outcome' },
        outcome,
        event.error ? h('span', { class: 'error-code' }, event.error) : null,
      ),
    );
  }

  function render(events: readonly ActivityEvent[]): void {
    const key = `${events.length}:${events.at(-1)?.id ?? 0}`;
    if (key === lastKey) return;
    lastKey = key;
    const newestFirst = [...events].reverse();
    tbody.replaceChildren(...newestFirst.map(rowFor));
    table.hidden = events.length === 0;
    empty.hidden = events.length > 0;
    count.textContent = events.length === 0 ? '' : `Last ${plural(events.length, 'event')}`;
  }

  async function poll(): Promise<void> {
    try {
      const usageDue = polls++ % USAGE_EVERY === 0;
      const [events, rows, status] = await Promise.all([
        ctx.api['activity.recent']({ limit: LIMIT }),
        usageDue ? ctx.api['usage.list']({ days: USAGE_DAYS }) : undefined,
        usageDue ? ctx.api['proxy.status']() : undefined,
      ]);
      render(events);
      if (rows) usage.render(rows, status);
      hideMessage(message);
      live.classList.remove('stalled');
    } catch (err) {
      showMessage(message, 'error', errorText(err));
      live.classList.add('stalled');
    }
    if (active) timer = setTimeout(() => void poll(), POLL_MS);
  }

  const element = h(
    'div',
    { class: 'section-body' },
    sectionHeader('Activity', [
      live,
      'Live: requests through Keygate, newest first. Never a key, never a query string.',
    ]),
    message,
    usage.element,
    h('div', { class: 'group-box table-box scroll' }, table, empty),
    h('p', { class: 'footnote' }, count),
  );
  table.hidden = true;

  return {
    id: 'activity',
    title: 'Activity',
    element,
    activate: () => {
      if (active) return;
      active = true;
      polls = 0;
      void poll();
    },
    deactivate: () => {
      active = false;
      clearTimeout(timer);
    },
  };
}
