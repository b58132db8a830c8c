/**
 * Rotation: after the upstream refuses a cached key, the resolver drops it and asks the source
 * again, once (single-flight, rate-limited), so a key rotated in the source works on the next
 * request rather than after the cache TTL. And the pure rule for replaying the refused request.
 */
import { describe, expect, it } from 'vitest';
import { SecretResolver } from '../../../src/engine/secrets/secret-resolver.js';
import {
  isCredentialRejection,
  mayReplay,
  REPLAY_BODY_LIMIT,
} from '../../../src/engine/secrets/replay-policy.js';
import { SecretSourceError } from '../../../src/engine/secrets/secret-source.js';
import { FakeClock, RotatingSource } from '../../helpers/rotating-source.js';

const REF = 'rot://key';

function setup() {
  const source = new RotatingSource();
  const clock = new FakeClock();
  const resolver = new SecretResolver({ sources: [source], clock, refreshIntervalMs: 30_000 });
  return { source, clock, resolver };
}

describe('SecretResolver.refreshAfterRejection', () => {
  it('drops the refused value and returns the rotated one at once, not after the TTL', async () => {
    const { source, resolver } = setup();
    const old = await resolver.resolve(REF);
    source.value = 'key-v2'; // rotated in the source
    expect(resolver.peek(REF)?.reveal()).toBe('key-v1'); // still cached
    const fresh = await resolver.refreshAfterRejection(REF, old);
    expect(fresh?.reveal()).toBe('key-v2');
    expect(resolver.peek(REF)?.reveal()).toBe('key-v2');
    expect(source.calls).toBe(2);
  });

  it('is single-flight: 50 refused requests cause one source call', async () => {
    const { source, resolver } = setup();
    const old = await resolver.resolve(REF);
    source.value = 'key-v2';
    source.delayMs = 20;
    const results = await Promise.all(
      Array.from({ length: 50 }, () => resolver.refreshAfterRejection(REF, old)),
    );
    expect(results.every((s) => s?.reveal() === 'key-v2')).toBe(true);
    expect(source.calls).toBe(2);
    // Late arrivals holding the old value get the new one from the cache, no call.
    expect((await resolver.refreshAfterRejection(REF, old))?.reveal()).toBe('key-v2');
    expect(source.calls).toBe(2);
  });

  it('undefined when the value did not change (the key is simply wrong): pass the 401 through', async () => {
    const { source, resolver } = setup();
    const old = await resolver.resolve(REF);
    expect(await resolver.refreshAfterRejection(REF, old)).toBeUndefined();
    expect(source.calls).toBe(2);
  });

  it('is rate-limited per reference: at most one refresh per interval', async () => {
    const { source, clock, resolver } = setup();
    const old = await resolver.resolve(REF);
    expect(await resolver.refreshAfterRejection(REF, old)).toBeUndefined();
    expect(await resolver.refreshAfterRejection(REF, old)).toBeUndefined();
    expect(source.calls).toBe(2);
    clock.t += 30_000;
    source.value = 'key-v3';
    expect((await resolver.refreshAfterRejection(REF, old))?.reveal()).toBe('key-v3');
    expect(source.calls).toBe(3);
  });

  it('a failed refresh resolves undefined (never throws) and is recorded in status', async () => {
    const { source, resolver } = setup();
    const old = await resolver.resolve(REF);
    source.fail = new SecretSourceError('the item was deleted', 'not-found');
    expect(await resolver.refreshAfterRejection(REF, old)).toBeUndefined();
    expect(resolver.status(REF)).toMatchObject({ state: 'failing', kind: 'not-found' });
    expect(resolver.peek(REF)).toBeUndefined();
  });
});

describe('mayReplay', () => {
  const base = { status: 401, injectedCachedSecret: true } as const;
  it.each([
    ['no body', { ...base, body: 'none' as const }, true],
    ['a small buffered body', { ...base, body: { bufferedBytes: 512 } }, true],
    ['a body at the limit', { ...base, body: { bufferedBytes: REPLAY_BODY_LIMIT } }, true],
    ['a body over the limit', { ...base, body: { bufferedBytes: REPLAY_BODY_LIMIT + 1 } }, false],
    ['a streamed body', { ...base, body: 'streamed' as const }, false],
    ['403', { ...base, status: 403, body: 'none' as const }, true],
    ['500', { ...base, status: 500, body: 'none' as const }, false],
    ['a replay', { ...base, body: 'none' as const, replayed: true }, false],
    [
      'no cached secret injected',
      { ...base, injectedCachedSecret: false, body: 'none' as const },
      false,
    ],
  ])('%s → %s', (_label, candidate, expected) => {
    expect(mayReplay(candidate)).toBe(expected);
  });

  it('only 401 and 403 are credential rejections', () => {
    expect([200, 400, 401, 403, 404, 407, 429].filter(isCredentialRejection)).toEqual([401, 403]);
  });
});
