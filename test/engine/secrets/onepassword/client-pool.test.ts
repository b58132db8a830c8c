import { describe, expect, it } from 'vitest';
import { Secret } from '../../../../src/engine/secrets/secret.js';
import { OpClientPool } from '../../../../src/engine/secrets/onepassword/client-pool.js';
import type { OpAuth } from '../../../../src/engine/secrets/onepassword/op-client.js';
import { FakeOnePassword, fakeToken } from '../../../helpers/fake-op-client.js';

class FakeClock {
  /** Starts at 0 on purpose: lru-cache treats a stamp of 0 as "no TTL", which the pool avoids. */
  t = 0;
  now(): number {
    return this.t;
  }
}

const MINUTE = 60_000;
/** A well-formed token (the fake refuses malformed ones, as the SDK does), labelled `t`. */
const token = (t = 'token-one'): OpAuth => ({
  kind: 'service-account',
  token: new Secret(fakeToken(t)),
});

function setup(options: { max?: number; idleMs?: number } = {}) {
  const op = new FakeOnePassword();
  const clock = new FakeClock();
  const pool = new OpClientPool({ factory: op.factory, clock, ...options });
  return { op, clock, pool };
}

describe('OpClientPool', () => {
  it('creates one client per account and reuses it', async () => {
    const { op, pool } = setup();
    const a = await pool.get('a', token());
    expect(await pool.get('a', token())).toBe(a);
    expect(await pool.get('b', token())).not.toBe(a);
    expect(op.createCalls).toBe(2);
    expect(pool.stats.created).toBe(2);
  });

  it('is single-flight: concurrent gets share one createClient', async () => {
    const { op, pool } = setup();
    op.createDelayMs = 20;
    const clients = await Promise.all(Array.from({ length: 100 }, () => pool.get('a', token())));
    expect(op.createCalls).toBe(1);
    expect(new Set(clients).size).toBe(1);
  });

  it('does not remember a failed creation', async () => {
    const { op, pool } = setup();
    op.createError = new Error('invalid user input');
    await expect(pool.get('a', token())).rejects.toThrow('invalid user input');
    op.createError = undefined;
    await expect(pool.get('a', token())).resolves.toBeDefined();
    expect(op.createCalls).toBe(2);
  });

  it('holds at most 50 clients, dropping the least recently used', async () => {
    const { op, pool } = setup();
    const first = await pool.get('account-0', token());
    for (let i = 1; i < 60; i++) await pool.get(`account-${i}`, token());
    expect(pool.size).toBe(50);
    expect(pool.stats.evicted).toBe(10);
    expect(pool.has('account-0')).toBe(false);
    // The evicted client is never handed out again.
    const again = await pool.get('account-0', token());
    expect(again).not.toBe(first);
    expect(op.createCalls).toBe(61);
  });

  it('drops a client after 30 minutes idle, on the injected clock', async () => {
    const { op, clock, pool } = setup();
    const first = await pool.get('a', token());
    clock.t += 29 * MINUTE;
    expect(await pool.get('a', token())).toBe(first); // use refreshes the idle timer
    clock.t += 29 * MINUTE;
    expect(pool.has('a')).toBe(true);
    clock.t += 2 * MINUTE; // 31 min since last use
    expect(pool.has('a')).toBe(false);
    pool.purgeIdle();
    expect(pool.size).toBe(0);
    expect(pool.stats.evicted).toBe(1);
    const second = await pool.get('a', token());
    expect(second).not.toBe(first);
    expect(op.createCalls).toBe(2);
    // The evicted client is not used: every later call goes to the new one.
    await second.vaults.list();
    expect(op.clients[0]).toBe(first);
    expect(op.clients[1]).toBe(second);
  });

  it('expires idle clients lazily on get, counting the eviction', async () => {
    const { clock, pool } = setup({ idleMs: 1000 });
    await pool.get('a', token());
    clock.t += 1001;
    await pool.get('b', token());
    expect(pool.stats.evicted).toBe(1);
    expect(pool.has('a')).toBe(false);
  });

  it('makes a new client when the token changes', async () => {
    const { op, pool } = setup();
    const first = await pool.get('a', token('ops_one'));
    const second = await pool.get('a', token('ops_two'));
    expect(second).not.toBe(first);
    expect(await pool.get('a', token('ops_two'))).toBe(second);
    expect(op.createCalls).toBe(2);
    expect(pool.size).toBe(1);
  });

  it('recreate replaces the failed client once, however many callers ask', async () => {
    const { op, pool } = setup();
    const failed = await pool.get('a', token());
    op.createDelayMs = 10;
    const replacements = await Promise.all(
      Array.from({ length: 20 }, () => pool.recreate('a', token(), failed)),
    );
    expect(new Set(replacements).size).toBe(1);
    expect(replacements[0]).not.toBe(failed);
    expect(op.createCalls).toBe(2);
    // A late recreate for the same failed client gets the replacement, not a third client.
    expect(await pool.recreate('a', token(), failed)).toBe(replacements[0]);
    expect(await pool.get('a', token())).toBe(replacements[0]);
    expect(op.createCalls).toBe(2);
  });

  it('delete and clear drop clients', async () => {
    const { pool } = setup();
    await pool.get('a', token());
    await pool.get('b', token());
    pool.delete('a');
    expect(pool.has('a')).toBe(false);
    pool.clear();
    expect(pool.size).toBe(0);
    expect(pool.stats.disposed).toBe(2);
    expect(pool.stats.evicted).toBe(0);
  });

  it('drops a hung creation when its caller gives up, so the next lookup starts afresh', async () => {
    const { op, pool } = setup();
    op.createDelayMs = 60_000; // the SDK on a silent sign-in server
    const gaveUp = new AbortController();
    const first = pool.get('a', token(), gaveUp.signal);
    first.catch(() => undefined);
    expect(pool.pendingCount).toBe(1);
    gaveUp.abort(new Error('timed out'));
    expect(pool.pendingCount).toBe(0);
    // The network is back: a new lookup makes a new client instead of joining the stuck call.
    op.createDelayMs = 0;
    const client = await pool.get('a', token(), AbortSignal.timeout(5000));
    expect(op.createCalls).toBe(2);
    expect(op.clients).toEqual([client]);
    expect(await pool.get('a', token())).toBe(client);
  });

  it('a caller that aborts does not drop a newer creation it did not join', async () => {
    const { op, pool } = setup();
    op.createDelayMs = 20;
    const stale = new AbortController();
    pool.get('a', token(), stale.signal).catch(() => undefined);
    stale.abort();
    const fresh = pool.get('a', token());
    stale.abort(); // again: a no-op
    expect(pool.pendingCount).toBe(1);
    await fresh;
    expect(pool.size).toBe(1);
  });

  it('rejects nonsense limits', () => {
    const op = new FakeOnePassword();
    expect(() => new OpClientPool({ factory: op.factory, max: 0 })).toThrow(RangeError);
    expect(() => new OpClientPool({ factory: op.factory, idleMs: -1 })).toThrow(RangeError);
  });
});
