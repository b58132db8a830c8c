/** The usage view's data (src/renderer/usage-model.ts): pure, so checked in Node. */
import { describe, expect, it } from 'vitest';
import type { UsageRowView } from '../../src/shared/api.js';
import {
  budgetHitText,
  byAgentDay,
  compactCount,
  localDayOf,
  usageChart,
} from '../../src/renderer/usage-model.js';
import { localDay } from '../../src/engine/usage/usage-store.js';

const NOW = new Date(2026, 2, 1, 0, 30); // local 2026-03-01, just after midnight
const row = (day: string, agent: string, model: string, input: number, output: number) =>
  ({
    day,
    agent,
    mapping: 'api.anthropic.com',
    model,
    requests: 1,
    inputTokens: input,
    outputTokens: output,
    cachedTokens: 0,
  }) satisfies UsageRowView;

describe('usage model', () => {
  it('counts local days as the engine does, across a month end', () => {
    expect(localDayOf(NOW)).toBe('2026-03-01');
    expect(localDayOf(NOW)).toBe(localDay(NOW.getTime()));
    expect(localDayOf(NOW, 1)).toBe('2026-02-28');
  });

  it('sums models and mappings into one row per agent and day, newest first', () => {
    const rows = [
      row('2026-02-28', 'claude', 'a', 10, 1),
      row('2026-03-01', 'claude', 'a', 5, 5),
      row('2026-03-01', 'claude', 'b', 1, 2),
      row('2026-03-01', 'codex', 'a', 3, 0),
    ];
    expect(byAgentDay(rows)).toEqual([
      { day: '2026-03-01', agent: 'claude', requests: 2, inputTokens: 6, outputTokens: 7 },
      { day: '2026-03-01', agent: 'codex', requests: 1, inputTokens: 3, outputTokens: 0 },
      { day: '2026-02-28', agent: 'claude', requests: 1, inputTokens: 10, outputTokens: 1 },
    ]);
  });

  it('charts the last N days, today last, agents by total, rows outside the window ignored', () => {
    const chart = usageChart(
      [
        row('2026-03-01', 'codex', 'a', 30, 0),
        row('2026-02-28', 'claude', 'a', 10, 10),
        row('2026-02-20', 'old', 'a', 999, 0),
      ],
      NOW,
      3,
    );
    expect(chart).toEqual({
      days: ['2026-02-27', '2026-02-28', '2026-03-01'],
      agents: ['codex', 'claude'],
      tokens: [
        [0, 0],
        [0, 20],
        [30, 0],
      ],
      max: 30,
    });
    expect(usageChart([], NOW, 2).max).toBe(1);
  });

  it('formats counts and budget notices', () => {
    expect([999, 12_345, 2_000_000].map(compactCount)).toEqual(['999', '12.3k', '2M']);
    expect(
      budgetHitText(
        { agent: 'ci', mapping: 'api.openai.com', kind: 'tokens', limit: 5, used: 6, until: '' },
        '00:00:00',
      ),
    ).toBe('ci on api.openai.com: over budget (6 of 5 tokens today); refused until 00:00:00');
  });
});
