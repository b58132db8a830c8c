/**
 * The approval queue, called exactly as the proxy calls it (`hooks.beforeSecret(request, { signal })`),
 * over a real settings store in a temp home: who is held, joins, bounds, the agent leaving,
 * timeout, allow-for expiry, "always" in settings, and the short memory of a denial.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settingsApprovalPolicy } from '../../../src/engine/approvals/approval-policy.js';
import {
  ApprovalQueue,
  type ApprovalQueueOptions,
} from '../../../src/engine/approvals/approval-queue.js';
import {
  AgentClosedError,
  ApprovalBusyError,
  ApprovalDeniedError,
  ApprovalTimeoutError,
  InvalidInputError,
} from '../../../src/engine/errors.js';
import type { AdmittedRequest } from '../../../src/engine/proxy/request-hooks.js';
import { SettingsStore } from '../../../src/engine/settings/settings-store.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-approvals-');
const stores: SettingsStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

function request(overrides: Partial<AdmittedRequest> = {}): AdmittedRequest {
  return {
    agent: 'claude',
    mapping: 'api.anthropic.com',
    preset: 'anthropic',
    host: 'api.anthropic.com',
    port: 443,
    method: 'POST',
    path: '/v1/messages',
    shape: 'intercepted',
    ...overrides,
  };
}

interface Harness {
  queue: ApprovalQueue;
  store: SettingsStore;
  home: string;
  clock: { now: number };
}

function harness(options: Partial<ApprovalQueueOptions> = {}, home = tempDir()): Harness {
  const store = SettingsStore.open(home);
  stores.push(store);
  store.update((draft) => {
    for (const [name, ask] of [
      ['claude', true],
      ['codex', true],
      ['ci', false],
    ] as const) {
      if (!draft.agents.some((a) => a.name === name))
        draft.agents.push({
          name,
          token: `${name}-token-0123456789abcdef0123456789abcdef`,
          createdAt: new Date(0).toISOString(),
          ...(ask ? { ask: true } : {}),
        });
    }
  });
  const clock = { now: Date.parse('2026-12-03T12:00:00Z') };
  const queue = new ApprovalQueue({
    policy: settingsApprovalPolicy(store),
    now: () => clock.now,
    ...options,
  });
  return { queue, store, home, clock };
}

/** The hook as a promise: it answers at once (even by throwing) when nothing is held. */
function gate(queue: ApprovalQueue) {
  return (req: AdmittedRequest, signal: AbortSignal) =>
    new Promise<void>((resolve) => resolve(queue.hooks.beforeSecret!(req, { signal })));
}

/** Starts a held request; `settled()` says how it ended, without an unhandled rejection. */
function ask(queue: ApprovalQueue, req: AdmittedRequest, signal = new AbortController().signal) {
  let outcome: 'pending' | 'allowed' | Error = 'pending';
  const promise = gate(queue)(req, signal).then(
    () => (outcome = 'allowed'),
    (err: Error) => (outcome = err),
  );
  return { settled: async () => (await promise, outcome), now: () => outcome };
}

async function tick(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe('approval queue', () => {
  it('never holds an agent that does not ask', async () => {
    const { queue } = harness();
    await expect(
      gate(queue)(request({ agent: 'ci' }), new AbortController().signal),
    ).resolves.toBeUndefined();
    await expect(
      gate(queue)(request({ agent: 'nobody' }), new AbortController().signal),
    ).resolves.toBeUndefined();
    expect(queue.list()).toEqual([]);
    // Decided at once: the proxy pays no promise for an agent that never asks.
    expect(
      queue.hooks.beforeSecret!(request({ agent: 'ci' }), { signal: new AbortController().signal }),
    ).toBeUndefined();
  });

  it('holds the first request of an asking agent until allowed, then lets the pair through', async () => {
    const { queue, clock } = harness();
    const first = ask(queue, request({ path: '/v1/messages?beta=true' }));
    await tick();
    expect(first.now()).toBe('pending');
    const [pending] = queue.list();
    expect(pending).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}$/),
      agent: 'claude',
      mapping: 'api.anthropic.com',
      preset: 'anthropic',
      host: 'api.anthropic.com',
      port: 443,
      method: 'POST',
      path: '/v1/messages',
      since: '2026-12-03T12:00:00.000Z',
      expiresAt: '2026-12-03T12:02:00.000Z',
      waiting: 1,
    });
    const outcome = queue.decide(pending!.id, 'allow');
    expect(outcome).toMatchObject({ decision: 'allow', until: '2026-12-03T20:00:00.000Z' });
    expect(await first.settled()).toBe('allowed');
    expect(queue.list()).toEqual([]);

    // Approved pair: never held again while the grant lasts.
    clock.now += 60 * 60 * 1000;
    await expect(gate(queue)(request(), new AbortController().signal)).resolves.toBeUndefined();
    expect(queue.list()).toEqual([]);

    // The approval names the host exactly, and the agent: another of either asks.
    const otherHost = ask(queue, request({ mapping: '*.example.com', host: 'a.example.com' }));
    const otherAgent = ask(queue, request({ agent: 'codex' }));
    await tick();
    expect(queue.list().map((p) => [p.agent, p.host])).toEqual([
      ['claude', 'a.example.com'],
      ['codex', 'api.anthropic.com'],
    ]);
    expect([otherHost.now(), otherAgent.now()]).toEqual(['pending', 'pending']);
    queue.close();
    expect(await otherHost.settled()).toBeInstanceOf(ApprovalTimeoutError);
  });

  it('an allow-for grant expires, and the next request asks again', async () => {
    const { queue, clock } = harness();
    const first = ask(queue, request());
    await tick();
    queue.decide(queue.list()[0]!.id, 'allow', 60_000);
    expect(await first.settled()).toBe('allowed');
    clock.now += 61_000;
    const again = ask(queue, request());
    await tick();
    expect(again.now()).toBe('pending');
    expect(queue.list()).toHaveLength(1);
    queue.close();
    await again.settled();
  });

  it('concurrent requests for one pair join one pending approval', async () => {
    const { queue } = harness();
    const calls = [ask(queue, request()), ask(queue, request()), ask(queue, request())];
    await tick();
    expect(queue.list()).toHaveLength(1);
    expect(queue.list()[0]!.waiting).toBe(3);
    expect(queue.held).toBe(3);
    queue.decide(queue.list()[0]!.id, 'allow');
    expect(await Promise.all(calls.map((c) => c.settled()))).toEqual([
      'allowed',
      'allowed',
      'allowed',
    ]);
    expect(queue.held).toBe(0);
  });

  it('the agent closing its connection drops its request, and the approval with the last one', async () => {
    const { queue } = harness();
    const a = new AbortController();
    const b = new AbortController();
    const first = ask(queue, request(), a.signal);
    const second = ask(queue, request(), b.signal);
    await tick();
    a.abort();
    expect(await first.settled()).toBeInstanceOf(AgentClosedError);
    expect(queue.list()[0]!.waiting).toBe(1);
    b.abort();
    expect(await second.settled()).toBeInstanceOf(AgentClosedError);
    expect(queue.list()).toEqual([]);
    expect(queue.held).toBe(0);

    // Already gone before it was asked: nothing is held at all.
    const gone = new AbortController();
    gone.abort();
    expect(await ask(queue, request(), gone.signal).settled()).toBeInstanceOf(AgentClosedError);
    expect(queue.list()).toEqual([]);
  });

  it('times out with 403 keygate_approval_timeout, and the next request asks again', async () => {
    const { queue } = harness({ timeoutMs: 50 });
    const first = ask(queue, request());
    const err = (await first.settled()) as InstanceType<typeof ApprovalTimeoutError>;
    expect(err).toBeInstanceOf(ApprovalTimeoutError);
    expect([err.status, err.errorId]).toEqual([403, 'keygate_approval_timeout']);
    expect(err.message).toContain('agent "claude" on api.anthropic.com (api.anthropic.com)');
    expect(queue.list()).toEqual([]);
    const again = ask(queue, request());
    await tick();
    expect(queue.list()).toHaveLength(1);
    expect(await again.settled()).toBeInstanceOf(ApprovalTimeoutError);
  });

  it('deny answers 403 keygate_approval_denied, remembered 30 s without asking again', async () => {
    const { queue, clock } = harness();
    const first = ask(queue, request());
    const joined = ask(queue, request());
    await tick();
    const id = queue.list()[0]!.id;
    expect(queue.decide(id, 'deny')).toMatchObject({ id, decision: 'deny' });
    for (const call of [first, joined]) {
      const err = (await call.settled()) as InstanceType<typeof ApprovalDeniedError>;
      expect(err).toBeInstanceOf(ApprovalDeniedError);
      expect([err.status, err.errorId]).toEqual([403, 'keygate_approval_denied']);
    }
    // A retry loop within the memory fails at once and does not ask the user again.
    clock.now += 29_000;
    const retry = ask(queue, request());
    expect(await retry.settled()).toBeInstanceOf(ApprovalDeniedError);
    expect(queue.list()).toEqual([]);
    // Other pairs are not affected by the denial.
    const other = ask(queue, request({ agent: 'codex' }));
    await tick();
    expect(queue.list()).toHaveLength(1);
    // After it, the next request asks again.
    clock.now += 2_000;
    const later = ask(queue, request());
    await tick();
    expect(later.now()).toBe('pending');
    expect(queue.list()).toHaveLength(2);
    queue.close();
    await Promise.all([other.settled(), later.settled()]);
  });

  it('always is stored in settings, per agent × mapping × host, and outlives the queue', async () => {
    const { queue, store, home } = harness();
    const first = ask(queue, request());
    await tick();
    queue.decide(queue.list()[0]!.id, 'always');
    expect(await first.settled()).toBe('allowed');
    const saved = JSON.parse(readFileSync(join(home, 'settings.json'), 'utf8')) as {
      agents: { name: string; grants?: unknown[] }[];
    };
    expect(saved.agents.find((a) => a.name === 'claude')?.grants).toEqual([
      { mapping: 'api.anthropic.com', host: 'api.anthropic.com', at: expect.any(String) },
    ]);
    store.close();
    // A new engine over the same home (a restart): not held.
    const restarted = harness({}, home);
    await expect(
      gate(restarted.queue)(request(), new AbortController().signal),
    ).resolves.toBeUndefined();
    expect(restarted.queue.list()).toEqual([]);
  });

  it('always for an agent removed meanwhile grants nothing and refuses the held request', async () => {
    const { queue, store } = harness();
    const first = ask(queue, request());
    await tick();
    store.update((draft) => {
      draft.agents = draft.agents.filter((a) => a.name !== 'claude');
    });
    expect(() => queue.decide(queue.list()[0]!.id, 'always')).toThrow(InvalidInputError);
    expect(await first.settled()).toBeInstanceOf(ApprovalDeniedError);
    expect(queue.list()).toEqual([]);
  });

  it('an agent removed and added again under its name is asked again: what the first was allowed or denied is not the second’s', async () => {
    const { queue, store } = harness();
    const readd = (createdAt: string) =>
      store.update((draft) => {
        const old = draft.agents.find((a) => a.name === 'claude')!;
        draft.agents = draft.agents.filter((a) => a.name !== 'claude');
        draft.agents.push({ ...old, token: `new-${old.token}`.slice(0, 43), createdAt });
      });
    // Allowed for a week, then re-added before serve saw the removal on its own.
    const first = ask(queue, request());
    await tick();
    queue.decide(queue.list()[0]!.id, 'allow', 7 * 24 * 3600 * 1000);
    expect(await first.settled()).toBe('allowed');
    readd('2026-12-03T12:00:01.000Z');
    const second = ask(queue, request());
    await tick();
    expect(second.now()).toBe('pending');
    // Held under the old agent, answered "always" after the new one came: nothing is stored.
    readd('2026-12-03T12:00:02.000Z');
    expect(() => queue.decide(queue.list()[0]!.id, 'always')).toThrow(InvalidInputError);
    expect(await second.settled()).toBeInstanceOf(ApprovalDeniedError);
    expect(store.get().agents.find((a) => a.name === 'claude')?.grants).toBeUndefined();
    // A denial does not follow the name either.
    const third = ask(queue, request());
    await tick();
    queue.decide(queue.list()[0]!.id, 'deny');
    expect(await third.settled()).toBeInstanceOf(ApprovalDeniedError);
    readd('2026-12-03T12:00:03.000Z');
    queue.reconsider();
    const fourth = ask(queue, request());
    await tick();
    expect(fourth.now()).toBe('pending');
    // reconsider() refuses what the removed agent still had held.
    readd('2026-12-03T12:00:04.000Z');
    queue.reconsider();
    expect(await fourth.settled()).toBeInstanceOf(ApprovalDeniedError);
    expect(queue.list()).toEqual([]);
  });

  it('bounds held requests per agent and in all, with 429 keygate_approval_busy', async () => {
    const { queue } = harness({ maxHeldPerAgent: 2, maxHeldTotal: 3 });
    const held = [
      ask(queue, request()),
      ask(queue, request({ mapping: 'api.openai.com', host: 'api.openai.com' })),
    ];
    const over = ask(queue, request({ mapping: 'x.test', host: 'x.test' }));
    const err = (await over.settled()) as InstanceType<typeof ApprovalBusyError>;
    expect(err).toBeInstanceOf(ApprovalBusyError);
    expect([err.status, err.errorId]).toEqual([429, 'keygate_approval_busy']);
    expect(err.message).toContain('agent "claude" has too many');
    // Joining counts too: a flood of one pair is bounded like a flood of many.
    expect(await ask(queue, request()).settled()).toBeInstanceOf(ApprovalBusyError);
    // Another agent still has room, until the total is reached.
    held.push(ask(queue, request({ agent: 'codex' })));
    const totalOver = ask(queue, request({ agent: 'codex', host: 'y.test', mapping: 'y.test' }));
    expect(((await totalOver.settled()) as Error).message).toContain('Keygate has too many');
    await tick();
    expect(queue.held).toBe(3);
    expect(queue.list()).toHaveLength(3);
    queue.close();
    await Promise.all(held.map((h) => h.settled()));
    expect(queue.held).toBe(0);
  });

  it('refuses unknown ids and durations that do not fit, changing nothing', async () => {
    const { queue } = harness();
    const first = ask(queue, request());
    await tick();
    const id = queue.list()[0]!.id;
    expect(() => queue.decide('deadbeef', 'allow')).toThrow(/no pending approval "deadbeef"/);
    expect(() => queue.decide(id, 'deny', 1000)).toThrow(InvalidInputError);
    expect(() => queue.decide(id, 'allow', 8 * 24 * 3600 * 1000)).toThrow(/7 days/);
    expect(() => queue.decide(id, 'allow', 0)).toThrow(InvalidInputError);
    expect(first.now()).toBe('pending');
    expect(queue.list()).toHaveLength(1);
    queue.decide(id, 'allow');
    expect(await first.settled()).toBe('allowed');
    expect(() => queue.decide(id, 'allow')).toThrow(/no pending approval/);
  });

  it('tells listeners when the list changes', async () => {
    const { queue } = harness();
    let changes = 0;
    const stop = queue.onChange(() => changes++);
    const first = ask(queue, request());
    await tick();
    expect(changes).toBe(1);
    queue.decide(queue.list()[0]!.id, 'deny');
    await first.settled();
    expect(changes).toBe(2);
    stop();
  });
});
