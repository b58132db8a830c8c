import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../../src/engine/budgets/budget-exceeded-error.js';
import { BudgetHooks, secondsToLocalMidnight } from '../../../src/engine/budgets/budget-hooks.js';
import type { AdmittedRequest } from '../../../src/engine/proxy/request-hooks.js';
import { UsageStore } from '../../../src/engine/usage/usage-store.js';
import type { Agent } from '../../../src/shared/settings-schema.js';

const homes: string[] = [];
const stores: UsageStore[] = [];
afterEach(async () => {
  // Closed (its last write done) before its home goes: a write into a removed home would fail.
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const dir of homes.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const START = new Date(2026, 11, 3, 10, 0, 0).getTime();

function setup(budget: Agent['budget']) {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-budget-'));
  homes.push(dir);
  const clock = { now: START };
  const usage = new UsageStore({ home: dir, now: () => clock.now, flushDelayMs: 60_000 });
  stores.push(usage);
  const agents: Agent[] = [
    { name: 'claude', token: 'x'.repeat(43), createdAt: '2026-01-01T00:00:00Z', budget },
    { name: 'free', token: 'y'.repeat(43), createdAt: '2026-01-01T00:00:00Z' },
  ];
  const hooks = new BudgetHooks({ agents: () => agents, usage, now: () => clock.now });
  return { clock, usage, agents, hooks };
}

function req(agent: string, mapping = 'api.anthropic.com'): AdmittedRequest {
  return {
    agent,
    mapping,
    preset: 'anthropic',
    host: mapping,
    port: 443,
    method: 'POST',
    path: '/v1/messages',
    shape: 'intercepted',
  };
}

function refusal(fn: () => void): BudgetExceededError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BudgetExceededError) return err;
    throw err;
  }
  throw new Error('expected a BudgetExceededError');
}

describe('BudgetHooks', () => {
  it('N requests per hour: request N+1 is a 429 with Retry-After until the window frees', () => {
    const { clock, hooks } = setup({ maxRequestsPerHour: 3 });
    hooks.beforeSecret(req('claude'));
    clock.now += 10 * 60_000;
    hooks.beforeSecret(req('claude'));
    hooks.beforeSecret(req('claude'));
    const err = refusal(() => hooks.beforeSecret(req('claude')));
    expect(err.status).toBe(429);
    expect(err.errorId).toBe('keygate_budget_exceeded');
    expect(err.retryable).toBe(true);
    // The first request (at START) leaves the window an hour after it: 50 minutes from now.
    expect(err.retryAfterSeconds).toBe(50 * 60);
    expect(err.hit).toMatchObject({ kind: 'requests', limit: 3, used: 3, agent: 'claude' });
    expect(hooks.hits()).toHaveLength(1);
    // A refused request does not count: once the first leaves, exactly one more fits.
    clock.now = START + 60 * 60_000 + 1;
    hooks.beforeSecret(req('claude'));
    expect(() => hooks.beforeSecret(req('claude'))).toThrow(BudgetExceededError);
    // Other agents are never limited by this one's budget.
    for (let i = 0; i < 10; i++) hooks.beforeSecret(req('free'));
  });

  it('N tokens per day: refused once reported tokens reach the limit, until local midnight', () => {
    const { clock, usage, hooks } = setup({ maxTokensPerDay: 1000 });
    const key = { agent: 'claude', mapping: 'api.anthropic.com', model: 'm' };
    usage.add(key, { requests: 1, inputTokens: 600, outputTokens: 399, cachedTokens: 0 });
    hooks.beforeSecret(req('claude'));
    usage.add(key, { requests: 1, inputTokens: 0, outputTokens: 1, cachedTokens: 0 });
    const err = refusal(() => hooks.beforeSecret(req('claude')));
    expect(err.hit).toMatchObject({ kind: 'tokens', limit: 1000, used: 1000 });
    expect(err.retryAfterSeconds).toBe(14 * 60 * 60);
    expect(err.message).not.toMatch(/x{20}/);
    // Tokens of another agent do not count.
    usage.add(
      { ...key, agent: 'free' },
      { requests: 1, inputTokens: 1e6, outputTokens: 0, cachedTokens: 0 },
    );
    hooks.beforeSecret(req('free'));
    // The next local day is free again.
    clock.now = new Date(2026, 11, 4, 0, 0, 1).getTime();
    hooks.beforeSecret(req('claude'));
  });

  it('an open WebSocket: its upgrade and each message the agent sends count as requests; a used-up token budget refuses the next message', () => {
    const { hooks } = setup({
      maxRequestsPerHour: 3,
      maxTokensPerDay: 100,
      mappings: { 'api.openai.com': { maxTokensPerDay: 10 } },
    });
    const socket = { ...req('claude'), shape: 'websocket' as const, method: 'GET' };
    hooks.beforeSecret(socket);
    hooks.beforeWebSocketMessage(socket);
    hooks.beforeWebSocketMessage(socket);
    expect(refusal(() => hooks.beforeWebSocketMessage(socket)).hit).toMatchObject({
      kind: 'requests',
      limit: 3,
      used: 3,
    });
    // Tokens: a mapping's own budget refuses only that mapping's sockets; the agent's counts all.
    const fresh = setup({
      maxTokensPerDay: 100,
      mappings: { 'api.openai.com': { maxTokensPerDay: 10 } },
    });
    const openai = { ...socket, mapping: 'api.openai.com', host: 'api.openai.com' };
    const key = { agent: 'claude', mapping: 'api.openai.com', model: 'm' };
    fresh.usage.add(key, { requests: 1, inputTokens: 6, outputTokens: 4, cachedTokens: 0 });
    expect(refusal(() => fresh.hooks.beforeWebSocketMessage(openai)).hit).toMatchObject({
      kind: 'tokens',
      mapping: 'api.openai.com',
      used: 10,
    });
    fresh.hooks.beforeWebSocketMessage(socket);
    fresh.usage.add(
      { ...key, mapping: 'api.anthropic.com' },
      { requests: 1, inputTokens: 50, outputTokens: 40, cachedTokens: 0 },
    );
    const err = refusal(() => fresh.hooks.beforeWebSocketMessage(socket));
    expect(err.hit).toMatchObject({ kind: 'tokens', limit: 100, used: 100 });
    expect(err.hit.mapping).toBeUndefined();
    // An agent without budgets is never refused.
    for (let i = 0; i < 10; i++) hooks.beforeWebSocketMessage({ ...socket, agent: 'free' });
  });

  it('a mapping budget limits only that mapping, on top of the agent one', () => {
    const { hooks } = setup({
      maxRequestsPerHour: 5,
      mappings: { 'api.openai.com': { maxRequestsPerHour: 1 } },
    });
    hooks.beforeSecret(req('claude', 'api.openai.com'));
    const err = refusal(() => hooks.beforeSecret(req('claude', 'api.openai.com')));
    expect(err.hit.mapping).toBe('api.openai.com');
    expect(err.message).toMatch(/on api\.openai\.com/);
    // The agent's own hour counted the mapping's request too: 4 more fit elsewhere, not 5.
    for (let i = 0; i < 4; i++) hooks.beforeSecret(req('claude'));
    expect(refusal(() => hooks.beforeSecret(req('claude'))).hit.mapping).toBeUndefined();
  });

  it('reads the settings on every request, so a new or cleared budget applies at once', () => {
    const { agents, hooks } = setup(undefined);
    for (let i = 0; i < 3; i++) hooks.beforeSecret(req('claude'));
    agents[0] = { ...agents[0]!, budget: { maxRequestsPerHour: 1 } };
    hooks.beforeSecret(req('claude'));
    expect(() => hooks.beforeSecret(req('claude'))).toThrow(BudgetExceededError);
    agents[0] = { ...agents[0]!, budget: undefined };
    hooks.beforeSecret(req('claude'));
  });

  it('secondsToLocalMidnight is at least 1', () => {
    expect(secondsToLocalMidnight(new Date(2026, 0, 1, 23, 59, 59, 999).getTime())).toBe(1);
    expect(secondsToLocalMidnight(new Date(2026, 0, 1, 0, 0, 0).getTime())).toBe(24 * 3600);
  });
});
