/** Budgets as the contract sets them (engine/budgets/budget-input.ts). */
import { describe, expect, it } from 'vitest';
import { applyBudgetInput, budgetHitView } from '../../../src/engine/budgets/budget-input.js';
import { InvalidInputError } from '../../../src/engine/errors.js';
import type { Agent } from '../../../src/shared/settings-schema.js';

const MAPPINGS = ['api.openai.com', 'api.anthropic.com'];
const agent = (budget?: Agent['budget']): Agent => ({
  name: 'ci',
  token: 'x'.repeat(43),
  createdAt: '2026-01-01T00:00:00.000Z',
  ...(budget ? { budget } : {}),
});

describe('applyBudgetInput', () => {
  it('sets and clears the named limits, keeping the others and the per-mapping ones', () => {
    const a = agent({
      maxTokensPerDay: 9,
      mappings: { 'api.openai.com': { maxRequestsPerHour: 2 } },
    });
    applyBudgetInput(a, { maxRequestsPerHour: 100 }, MAPPINGS);
    expect(a.budget).toEqual({
      maxRequestsPerHour: 100,
      maxTokensPerDay: 9,
      mappings: { 'api.openai.com': { maxRequestsPerHour: 2 } },
    });
    applyBudgetInput(a, { maxTokensPerDay: null, maxRequestsPerHour: null }, MAPPINGS);
    expect(a.budget).toEqual({ mappings: { 'api.openai.com': { maxRequestsPerHour: 2 } } });
    applyBudgetInput(a, { mapping: 'api.openai.com', maxRequestsPerHour: null }, MAPPINGS);
    expect(a.budget).toBeUndefined();
  });

  it("sets one mapping's own limits, next to the agent's", () => {
    const a = agent({ maxRequestsPerHour: 5 });
    applyBudgetInput(a, { mapping: 'api.anthropic.com', maxTokensPerDay: 1000 }, MAPPINGS);
    expect(a.budget).toEqual({
      maxRequestsPerHour: 5,
      mappings: { 'api.anthropic.com': { maxTokensPerDay: 1000 } },
    });
  });

  it.each([
    [{ maxRequestsPerHour: 0 }, /maxRequestsPerHour must be a whole number/],
    [{ maxRequestsPerHour: 1.5 }, /maxRequestsPerHour/],
    [{ maxRequestsPerHour: 1_000_001 }, /maxRequestsPerHour/],
    [{ maxTokensPerDay: 'lots' as unknown as number }, /maxTokensPerDay/],
    [{ mapping: 'nope', maxTokensPerDay: 1 }, /no mapping named "nope"/],
  ])('refuses %o with a named error and changes nothing', (input, message) => {
    const a = agent({ maxTokensPerDay: 9 });
    expect(() => applyBudgetInput(a, input, MAPPINGS)).toThrow(InvalidInputError);
    expect(() => applyBudgetInput(a, input, MAPPINGS)).toThrow(message);
    expect(a.budget).toEqual({ maxTokensPerDay: 9 });
  });

  it('shows a hit with when it frees', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    expect(
      budgetHitView(
        { agent: 'ci', kind: 'requests', limit: 3, used: 3, retryAfterSeconds: 60 },
        now,
      ),
    ).toEqual({
      agent: 'ci',
      kind: 'requests',
      limit: 3,
      used: 3,
      until: '2026-01-01T12:01:00.000Z',
    });
  });
});
