/**
 * The usage view of the Activity section (issue 13; docs/agents.md, "Usage and budgets"): the
 * budgets refusing requests right now, tokens today, a bar chart of tokens per agent per day
 * (plain SVG; colours from styles.css by series, no inline style) and the per-agent table.
 * Counts only: the engine never records a body, a prompt or a key.
 */
import type { ProxyStatus, UsageRowView } from '../../shared/api.js';
import { h } from '../dom.js';
import { timeOfDay } from '../format.js';
import {
  budgetHitText,
  byAgentDay,
  compactCount,
  usageChart,
  type UsageChart,
} from '../usage-model.js';

export const USAGE_DAYS = 7;
const SERIES = 6;
const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 560;
const HEIGHT = 132;
const LABEL = 16;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
  ...children: Array<SVGElement | string>
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

function chartSvg(chart: UsageChart): SVGSVGElement {
  const slot = WIDTH / chart.days.length;
  const bar = Math.min(40, slot * 0.6);
  const plot = HEIGHT - LABEL;
  const root = svg('svg', {
    class: 'usage-chart',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': `Tokens per agent per day, last ${chart.days.length} days`,
  });
  chart.days.forEach((day, d) => {
    const x = d * slot + (slot - bar) / 2;
    let y = plot;
    const perAgent = chart.tokens[d] ?? [];
    const total = perAgent.reduce((a, b) => a + b, 0);
    const group = svg('g', { 'data-day': day, 'data-total': total });
    perAgent.forEach((tokens, a) => {
      if (tokens === 0) return;
      // 14 units on top for the day's total.
      const height = Math.max(1, (tokens / chart.max) * (plot - 14));
      y -= height;
      group.append(
        svg(
          'rect',
          {
            class: `series-${a % SERIES}`,
            x: x.toFixed(1),
            y: y.toFixed(1),
            width: bar.toFixed(1),
            height: height.toFixed(1),
            'data-agent': chart.agents[a] ?? '',
          },
          svg('title', {}, `${chart.agents[a] ?? ''}, ${day}: ${tokens} tokens`),
        ),
      );
    });
    group.append(
      svg(
        'text',
        { class: 'usage-chart-label', x: (x + bar / 2).toFixed(1), y: HEIGHT - 3 },
        day.slice(5),
      ),
    );
    if (total > 0)
      group.append(
        svg(
          'text',
          { class: 'usage-chart-total', x: (x + bar / 2).toFixed(1), y: (y - 3).toFixed(1) },
          compactCount(total),
        ),
      );
    root.append(group);
  });
  return root;
}

function legend(chart: UsageChart): HTMLElement {
  return h(
    'ul',
    { class: 'usage-legend' },
    ...chart.agents.map((agent, a) =>
      h(
        'li',
        {},
        h('span', { class: `swatch series-${a % SERIES}`, 'aria-hidden': 'true' }),
        agent,
      ),
    ),
  );
}

export interface UsageView {
  readonly element: HTMLElement;
  render(rows: readonly UsageRowView[], status: ProxyStatus | undefined): void;
}

export function createUsageView(): UsageView {
  const budgets = h('ul', { class: 'budget-hits', 'aria-live': 'polite' });
  const today = h('p', { class: 'usage-today' });
  const chartSlot = h('div', { class: 'usage-chart-box' });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'table usage-table' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Day', 'Agent', 'Requests', 'Input tokens', 'Output tokens'].map((title, i) =>
          h('th', { scope: 'col', class: i >= 2 ? 'number' : undefined }, title),
        ),
      ),
    ),
    tbody,
  );
  const empty = h(
    'p',
    { class: 'hint usage-empty' },
    `No tokens counted in the last ${USAGE_DAYS} days. Keygate reads them from the Anthropic and OpenAI APIs' answers.`,
  );
  const element = h(
    'section',
    { class: 'group usage', 'aria-label': 'Usage' },
    h('h2', { class: 'group-title' }, 'Usage'),
    budgets,
    h(
      'div',
      { class: 'group-box usage-box' },
      today,
      chartSlot,
      empty,
      h('div', { class: 'usage-table-box' }, table),
    ),
  );
  let lastKey = '';

  return {
    element,
    render(rows, status) {
      const hits = status?.budgetHits ?? [];
      budgets.replaceChildren(
        ...hits.map((hit) =>
          h(
            'li',
            { class: 'budget-hit', 'data-agent': hit.agent, 'data-kind': hit.kind },
            budgetHitText(hit, timeOfDay(hit.until)),
          ),
        ),
      );
      budgets.hidden = hits.length === 0;
      const tokensToday = status?.usageToday ?? 0;
      today.textContent = `${tokensToday.toLocaleString('en-US')} ${tokensToday === 1 ? 'token' : 'tokens'} today`;
      const key = JSON.stringify(rows);
      if (key === lastKey) return;
      lastKey = key;
      const chart = usageChart(rows, new Date(), USAGE_DAYS);
      const perAgent = byAgentDay(rows);
      chartSlot.replaceChildren(chartSvg(chart), legend(chart));
      tbody.replaceChildren(
        ...perAgent.map((r) =>
          h(
            'tr',
            { 'data-day': r.day, 'data-agent': r.agent },
            h('td', {}, r.day),
            h('td', {}, r.agent),
            h('td', { class: 'number' }, String(r.requests)),
            h('td', { class: 'number' }, String(r.inputTokens)),
            h('td', { class: 'number' }, String(r.outputTokens)),
          ),
        ),
      );
      table.hidden = perAgent.length === 0;
      chartSlot.hidden = perAgent.length === 0;
      empty.hidden = perAgent.length > 0;
    },
  };
}
