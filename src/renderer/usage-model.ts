/**
 * The Activity section's usage view as data (pure, no DOM; test/ui/renderer-model.test.ts):
 * tokens per agent per local day, the last N days, for the table and the chart.
 */
import type { BudgetHitView, UsageRowView } from '../shared/api.js';

export interface AgentDay {
  readonly day: string;
  readonly agent: string;
  readonly requests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
}

export interface UsageChart {
  /** Oldest first, one per day, today last. */
  readonly days: readonly string[];
  /** Agents by total tokens, most first (their series colour follows this order). */
  readonly agents: readonly string[];
  /** tokens[d][a]: input plus output tokens of agents[a] on days[d]. */
  readonly tokens: readonly (readonly number[])[];
  /** The largest day total (at least 1, so bars scale). */
  readonly max: number;
}

/** YYYY-MM-DD of the local day `back` days before `now` (as the engine's localDay). */
export function localDayOf(now: Date, back = 0): string {
  const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() - back);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Rows summed over mappings and models: one per agent and day, newest day first. */
export function byAgentDay(rows: readonly UsageRowView[]): AgentDay[] {
  const sums = new Map<string, AgentDay>();
  for (const row of rows) {
    const key = `${row.day}\u0000${row.agent}`;
    const sum = sums.get(key);
    sums.set(key, {
      day: row.day,
      agent: row.agent,
      requests: (sum?.requests ?? 0) + row.requests,
      inputTokens: (sum?.inputTokens ?? 0) + row.inputTokens,
      outputTokens: (sum?.outputTokens ?? 0) + row.outputTokens,
    });
  }
  return [...sums.values()].sort((a, b) =>
    a.day === b.day ? a.agent.localeCompare(b.agent) : a.day < b.day ? 1 : -1,
  );
}

export function usageChart(rows: readonly UsageRowView[], now: Date, dayCount: number): UsageChart {
  const days = Array.from({ length: dayCount }, (_, i) => localDayOf(now, dayCount - 1 - i));
  const totals = new Map<string, number>();
  for (const row of rows)
    if (days.includes(row.day))
      totals.set(row.agent, (totals.get(row.agent) ?? 0) + row.inputTokens + row.outputTokens);
  const agents = [...totals.keys()].sort(
    (a, b) => totals.get(b)! - totals.get(a)! || a.localeCompare(b),
  );
  const tokens = days.map((day) =>
    agents.map((agent) =>
      rows
        .filter((r) => r.day === day && r.agent === agent)
        .reduce((sum, r) => sum + r.inputTokens + r.outputTokens, 0),
    ),
  );
  const max = Math.max(1, ...tokens.map((perAgent) => perAgent.reduce((a, b) => a + b, 0)));
  return { days, agents, tokens, max };
}

/** 1234567 → "1.2M", 12345 → "12.3k", 999 → "999". */
export function compactCount(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1).replace(/\.0$/, '')}M`;
  if (n >= 1_000) return `${(n / 1_000).toFixed(1).replace(/\.0$/, '')}k`;
  return String(n);
}

/** "ci: 100 of 100 requests this hour, until 14:05" style, for the budget notice. */
export function budgetHitText(hit: BudgetHitView, until: string): string {
  const scope = hit.mapping ? `${hit.agent} on ${hit.mapping}` : hit.agent;
  const what =
    hit.kind === 'requests'
      ? `${hit.used} of ${hit.limit} requests this hour`
      : `${hit.used} of ${hit.limit} tokens today`;
  return `${scope}: over budget (${what}); refused until ${until}`;
}
