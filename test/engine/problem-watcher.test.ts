import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProblemWatcher } from '../../src/engine/problem-watcher.js';
import type { Alert, AlertState } from '../../src/shared/alerts.js';
import type { MappingView } from '../../src/shared/api.js';

function mapping(name: string, stale?: string): MappingView {
  return {
    name,
    host: name,
    ref: `op://AI/${name}/credential`,
    injector: { type: 'bearer' },
    explain: 'Authorization: Bearer <op://…>',
    ...(stale ? { stale } : {}),
  };
}

/** A watcher over a state the test edits, recording what it reported. */
function harness(options: { failReads?: boolean } = {}) {
  const state: { mappings: MappingView[]; fail: boolean } = {
    mappings: [],
    fail: options.failReads === true,
  };
  const appeared: string[][] = [];
  const cleared: string[][] = [];
  const errors: unknown[] = [];
  let reads = 0;
  const watcher = new ProblemWatcher({
    read: async (): Promise<AlertState> => {
      reads += 1;
      await Promise.resolve();
      if (state.fail) throw new Error('controller unavailable');
      return { accounts: [], mappings: state.mappings };
    },
    onAppear: (alerts: Alert[]) => appeared.push(alerts.map((a) => a.key)),
    onClear: (alerts: Alert[]) => cleared.push(alerts.map((a) => a.key)),
    onError: (err) => errors.push(err),
    intervalMs: 60_000,
    settleMs: 10,
  });
  watchers.push(watcher);
  return { state, watcher, appeared, cleared, errors, reads: () => reads };
}

const watchers: ProblemWatcher[] = [];
afterEach(() => watchers.splice(0).forEach((w) => w.stop()));

describe('ProblemWatcher', () => {
  it('reports a problem once when it appears and once when it clears, and again if it returns', async () => {
    const h = harness();
    h.state.mappings = [mapping('api.openai.com'), mapping('api.anthropic.com', 'item not found')];
    await h.watcher.check();
    await h.watcher.check();
    expect(h.appeared).toEqual([['stale:api.anthropic.com']]);
    expect(h.watcher.active.map((a) => a.body)).toEqual(['api.anthropic.com: item not found']);

    h.state.mappings = [mapping('api.openai.com'), mapping('api.anthropic.com')];
    await h.watcher.check();
    await h.watcher.check();
    expect(h.cleared).toEqual([['stale:api.anthropic.com']]);
    expect(h.watcher.active).toEqual([]);

    h.state.mappings = [mapping('api.anthropic.com', 'field renamed')];
    await h.watcher.check();
    expect(h.appeared).toEqual([['stale:api.anthropic.com'], ['stale:api.anthropic.com']]);
  });

  it('soon() folds a burst of calls into one check', async () => {
    const h = harness();
    for (let i = 0; i < 100; i++) h.watcher.soon();
    // However late a loaded machine runs the timer: one check, and no second one after it.
    await vi.waitFor(() => expect(h.reads()).toBe(1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(h.reads()).toBe(1);
  });

  it('a check asked for while one runs runs once more after it, not in parallel', async () => {
    const h = harness();
    const first = h.watcher.check();
    void h.watcher.check();
    void h.watcher.check();
    await first;
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(h.reads()).toBe(2);
  });

  it('a failed read is reported to onError and changes nothing; the next check works', async () => {
    const h = harness({ failReads: true });
    await h.watcher.check();
    expect(h.errors).toHaveLength(1);
    expect(String(h.errors[0])).toContain('controller unavailable');
    h.state.fail = false;
    h.state.mappings = [mapping('a.example.com', 'not found')];
    await h.watcher.check();
    expect(h.appeared).toEqual([['stale:a.example.com']]);
    expect(h.cleared).toEqual([]);
  });

  it('reports nothing after stop()', async () => {
    const h = harness();
    h.state.mappings = [mapping('a.example.com', 'not found')];
    h.watcher.stop();
    h.watcher.soon();
    await h.watcher.check();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(h.reads()).toBe(0);
    expect(h.appeared).toEqual([]);
  });
});
