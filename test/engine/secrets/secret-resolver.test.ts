import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../../src/engine/secrets/secret.js';
import {
  SecretSourceError,
  type ReferenceCheck,
  type SecretSource,
} from '../../../src/engine/secrets/secret-source.js';
import {
  SecretResolutionError,
  SecretResolver,
  type Clock,
  type SecretResolverOptions,
} from '../../../src/engine/secrets/secret-resolver.js';

class FakeClock implements Clock {
  constructor(public t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

type Failure = SecretSourceError | Error | 'hang';

/** A scripted source: `values` answer, `failures` fail (or hang), anything else is not-found. */
class FakeSource implements SecretSource {
  readonly scheme: string = 'fake';
  readonly values = new Map<string, string>();
  readonly failures = new Map<string, Failure>();
  /** Applies to every ref without its own entry. */
  failAll: Failure | undefined;
  delayMs = 0;
  calls = 0;
  readonly signals: AbortSignal[] = [];

  validate(ref: string): ReferenceCheck {
    return /^fake:\/\/\w+$/.test(ref) ? { ok: true } : { ok: false, reason: 'fake://WORD only' };
  }

  async resolve(ref: string, signal: AbortSignal): Promise<Secret> {
    this.calls++;
    this.signals.push(signal);
    return this.answer(ref);
  }

  protected async answer(ref: string): Promise<Secret> {
    if (this.delayMs > 0) await sleep(this.delayMs);
    const failure = this.failures.get(ref) ?? this.failAll;
    if (failure === 'hang') return new Promise<never>(() => {});
    if (failure) throw failure;
    const value = this.values.get(ref);
    if (value === undefined) throw new SecretSourceError(`no item for ${ref}`, 'not-found');
    return new Secret(value);
  }

  explain(): string {
    return 'fake';
  }
}

/** Same, with resolveMany; `resolveManyCalls` records each call's refs. */
class BulkFakeSource extends FakeSource {
  readonly resolveManyCalls: string[][] = [];
  bulkFailure: Error | undefined;
  /** Refs resolveMany leaves out of its answer. */
  readonly omit = new Set<string>();

  async resolveMany(
    refs: readonly string[],
    signal: AbortSignal,
  ): Promise<Map<string, Secret | SecretSourceError>> {
    this.resolveManyCalls.push([...refs]);
    this.signals.push(signal);
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (this.bulkFailure) throw this.bulkFailure;
    const out = new Map<string, Secret | SecretSourceError>();
    for (const ref of refs) {
      if (this.omit.has(ref)) continue;
      const value = this.values.get(ref);
      const failure = this.failures.get(ref);
      if (failure instanceof SecretSourceError) out.set(ref, failure);
      else if (value !== undefined) out.set(ref, new Secret(value));
      else out.set(ref, new SecretSourceError(`no item for ${ref}`, 'not-found'));
    }
    return out;
  }
}

function setup(options?: Partial<SecretResolverOptions>): Harness<FakeSource>;
function setup<S extends FakeSource>(
  options: Partial<SecretResolverOptions>,
  source: S,
): Harness<S>;
function setup(
  options: Partial<SecretResolverOptions> = {},
  source: FakeSource = new FakeSource(),
): Harness<FakeSource> {
  const clock = new FakeClock();
  source.values.set('fake://a', 'value-a');
  source.values.set('fake://b', 'value-b');
  source.values.set('fake://c', 'value-c');
  const resolver = new SecretResolver({ sources: [source], clock, ...options });
  return { clock, source, resolver };
}

interface Harness<S> {
  clock: FakeClock;
  source: S;
  resolver: SecretResolver;
}

async function failure(promise: Promise<unknown>): Promise<SecretResolutionError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SecretResolutionError);
  return error as SecretResolutionError;
}

describe('single-flight', () => {
  it('1,000 concurrent resolves of a cold ref make one source call and all get the value', async () => {
    const { source, resolver } = setup();
    source.delayMs = 20;
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => resolver.resolve('fake://a')),
    );
    expect(source.calls).toBe(1);
    expect(resolver.stats.sourceCalls).toBe(1);
    expect(results.every((s) => s.reveal() === 'value-a')).toBe(true);
    expect(resolver.stats.misses).toBe(1000);
  });

  it('1,000 concurrent resolves of a failing ref make one source call and all get the error', async () => {
    const { source, resolver } = setup();
    source.delayMs = 5;
    const settled = await Promise.allSettled(
      Array.from({ length: 1000 }, () => resolver.resolve('fake://missing')),
    );
    expect(source.calls).toBe(1);
    expect(settled.every((r) => r.status === 'rejected')).toBe(true);
  });

  it('different refs get their own calls', async () => {
    const { source, resolver } = setup();
    await Promise.all([resolver.resolve('fake://a'), resolver.resolve('fake://b')]);
    expect(source.calls).toBe(2);
  });
});

describe('positive cache', () => {
  it('serves for 60 s on the injected clock, then asks the source again', async () => {
    const { clock, source, resolver } = setup();
    await resolver.resolve('fake://a');
    expect(source.calls).toBe(1);
    clock.advance(59_900);
    expect((await resolver.resolve('fake://a')).reveal()).toBe('value-a');
    expect(source.calls).toBe(1);
    clock.advance(200); // 60.1 s
    source.values.set('fake://a', 'rotated');
    expect((await resolver.resolve('fake://a')).reveal()).toBe('rotated');
    expect(source.calls).toBe(2);
    expect(resolver.stats.hits).toBe(1);
  });

  it('honours a custom ttlMs', async () => {
    const { clock, source, resolver } = setup({ ttlMs: 1000 });
    await resolver.resolve('fake://a');
    clock.advance(999);
    await resolver.resolve('fake://a');
    expect(source.calls).toBe(1);
    clock.advance(1);
    await resolver.resolve('fake://a');
    expect(source.calls).toBe(2);
  });

  it('is bounded by maxEntries', async () => {
    const { source, resolver } = setup({ maxEntries: 2 });
    await resolver.resolve('fake://a');
    await resolver.resolve('fake://b');
    await resolver.resolve('fake://c');
    expect(resolver.peek('fake://a')).toBeUndefined();
    expect(resolver.peek('fake://c')?.reveal()).toBe('value-c');
    expect(source.calls).toBe(3);
  });
});

describe('peek', () => {
  it('is undefined when cold, the secret after resolve, undefined after the TTL', async () => {
    const { clock, resolver } = setup();
    expect(resolver.peek('fake://a')).toBeUndefined();
    await resolver.resolve('fake://a');
    expect(resolver.peek('fake://a')?.reveal()).toBe('value-a');
    clock.advance(59_999);
    expect(resolver.peek('fake://a')).toBeInstanceOf(Secret);
    clock.advance(1);
    expect(resolver.peek('fake://a')).toBeUndefined();
  });

  it('never calls a source', () => {
    const { source, resolver } = setup();
    expect(resolver.peek('fake://a')).toBeUndefined();
    expect(resolver.peek('nonsense')).toBeUndefined();
    expect(source.calls).toBe(0);
  });
});

describe('negative cache', () => {
  it('remembers not-found for 30 s, then asks again', async () => {
    const { clock, source, resolver } = setup();
    const first = await failure(resolver.resolve('fake://gone'));
    expect(first.kind).toBe('not-found');
    expect(first.ref).toBe('fake://gone');
    expect(first.message).toBe('could not resolve fake://gone: no item for fake://gone');
    clock.advance(29_900);
    expect((await failure(resolver.resolve('fake://gone'))).kind).toBe('not-found');
    expect(source.calls).toBe(1);
    clock.advance(200); // 30.1 s
    source.values.set('fake://gone', 'back');
    expect((await resolver.resolve('fake://gone')).reveal()).toBe('back');
    expect(source.calls).toBe(2);
  });

  it('does not put the source into cooldown', async () => {
    const { source, resolver } = setup();
    await failure(resolver.resolve('fake://gone'));
    expect((await resolver.resolve('fake://a')).reveal()).toBe('value-a');
    expect(source.calls).toBe(2);
  });

  it('negativeTtlMs 0 turns it off', async () => {
    const { source, resolver } = setup({ negativeTtlMs: 0 });
    await failure(resolver.resolve('fake://gone'));
    await failure(resolver.resolve('fake://gone'));
    expect(source.calls).toBe(2);
  });
});

describe('cooldown', () => {
  it('pauses the source for 60 s after a transient error; cached refs keep working', async () => {
    const { clock, source, resolver } = setup();
    await resolver.resolve('fake://a'); // cached before the outage
    source.failures.set('fake://b', new SecretSourceError('1Password is unreachable', 'transient'));
    const first = await failure(resolver.resolve('fake://b'));
    expect(first.kind).toBe('transient');
    expect(first.message).toBe('could not resolve fake://b: 1Password is unreachable');
    expect(source.calls).toBe(2);

    clock.advance(59_900);
    source.failures.clear();
    const paused = await failure(resolver.resolve('fake://c'));
    expect(paused.kind).toBe('cooldown');
    expect(paused.ref).toBe('fake://c');
    expect(paused.message).toMatch(/paused for 100 ms more/);
    expect(paused.message).toContain('1Password is unreachable');
    expect(paused.retryAfterMs).toBe(100);
    expect((await failure(resolver.resolve('fake://b'))).kind).toBe('cooldown');
    expect(source.calls).toBe(2);
    // The cached ref is untouched by the cooldown.
    expect((await resolver.resolve('fake://a')).reveal()).toBe('value-a');
    expect(resolver.peek('fake://a')?.reveal()).toBe('value-a');

    clock.advance(200); // 60.1 s
    expect((await resolver.resolve('fake://c')).reveal()).toBe('value-c');
    expect(source.calls).toBe(3);
  });

  it('honours a rate limit retryAfterMs of 120 s over the 60 s cooldown', async () => {
    const { clock, source, resolver } = setup();
    source.failures.set('fake://a', new SecretSourceError('rate limited', 'transient', 120_000));
    await failure(resolver.resolve('fake://a'));
    source.failures.clear();
    clock.advance(60_100);
    const paused = await failure(resolver.resolve('fake://b'));
    expect(paused.kind).toBe('cooldown');
    expect(paused.message).toMatch(/paused for 60 s more/);
    clock.advance(59_800); // 119.9 s
    expect((await failure(resolver.resolve('fake://b'))).kind).toBe('cooldown');
    expect(source.calls).toBe(1);
    clock.advance(200); // 120.1 s
    expect((await resolver.resolve('fake://b')).reveal()).toBe('value-b');
    expect(source.calls).toBe(2);
  });

  it('a shorter retryAfterMs does not shorten the cooldown', async () => {
    const { clock, source, resolver } = setup();
    source.failAll = new SecretSourceError('rate limited', 'transient', 5_000);
    await failure(resolver.resolve('fake://a'));
    source.failAll = undefined;
    clock.advance(30_000);
    expect((await failure(resolver.resolve('fake://a'))).kind).toBe('cooldown');
    expect(source.calls).toBe(1);
  });

  it('is per source scheme', async () => {
    const clock = new FakeClock();
    const fake = new FakeSource();
    const other = new (class extends FakeSource {
      override readonly scheme = 'other';
      override validate(): ReferenceCheck {
        return { ok: true };
      }
    })();
    fake.failAll = new SecretSourceError('down', 'transient');
    other.values.set('other://x', 'value-x');
    const resolver = new SecretResolver({ sources: [fake, other], clock });
    await failure(resolver.resolve('fake://a'));
    expect((await failure(resolver.resolve('fake://b'))).kind).toBe('cooldown');
    expect((await resolver.resolve('other://x')).reveal()).toBe('value-x');
  });

  it('wraps errors that are not SecretSourceError as transient, with context', async () => {
    const { source, resolver } = setup();
    source.failAll = new TypeError('fetch failed');
    const error = await failure(resolver.resolve('fake://a'));
    expect(error.kind).toBe('transient');
    expect(error.message).toBe('could not resolve fake://a: the fake source failed: fetch failed');
    expect(error.cause).toBeInstanceOf(TypeError);
    source.failAll = undefined;
    expect((await failure(resolver.resolve('fake://b'))).kind).toBe('cooldown');
  });

  it('treats a source that throws synchronously like one that rejects', async () => {
    const { source, resolver } = setup();
    source.resolve = () => {
      source.calls++;
      throw new Error('sync boom');
    };
    const error = await failure(resolver.resolve('fake://a'));
    expect(error.kind).toBe('transient');
    expect(error.message).toContain('sync boom');
  });

  it('treats a source that returns a raw string as transient and never echoes it', async () => {
    const { source, resolver } = setup();
    source.resolve = (() => Promise.resolve('sk-raw-value')) as unknown as FakeSource['resolve'];
    const error = await failure(resolver.resolve('fake://a'));
    expect(error.kind).toBe('transient');
    expect(error.message).not.toContain('sk-raw-value');
    expect(resolver.status('fake://a').reason).not.toContain('sk-raw-value');
  });
});

describe('timeout', () => {
  it('rejects kind timeout quickly, aborts the signal, then cools the source down', async () => {
    const { source, resolver } = setup({ timeoutMs: 50 });
    source.failAll = 'hang';
    const started = performance.now();
    const error = await failure(resolver.resolve('fake://a'));
    const elapsed = performance.now() - started;
    expect(error.kind).toBe('timeout');
    expect(error.message).toBe(
      'could not resolve fake://a: the fake source did not answer within 50 ms',
    );
    expect(elapsed).toBeGreaterThanOrEqual(45);
    expect(elapsed).toBeLessThan(1000);
    expect(source.signals).toHaveLength(1);
    expect(source.signals[0]?.aborted).toBe(true);
    expect(source.signals[0]?.reason).toBeInstanceOf(Error);

    const paused = await failure(resolver.resolve('fake://b'));
    expect(paused.kind).toBe('cooldown');
    expect(paused.message).toContain('did not answer within 50 ms');
    expect(source.calls).toBe(1);
    expect(resolver.status('fake://a').state).toBe('failing');
  });

  it('says seconds for the default-sized timeouts', async () => {
    const { source, resolver } = setup({ timeoutMs: 1000 });
    source.failAll = 'hang';
    expect((await failure(resolver.resolve('fake://a'))).message).toMatch(/within 1 s$/);
  });

  it('leaves the signal alone when the source answers in time', async () => {
    const { source, resolver } = setup({ timeoutMs: 50 });
    await resolver.resolve('fake://a');
    await sleep(80);
    expect(source.signals[0]?.aborted).toBe(false);
  });
});

describe('prefetch', () => {
  it('dedupes refs and calls resolveMany once per source', async () => {
    const { source, resolver } = setup({}, new BulkFakeSource());
    await resolver.prefetch(['fake://a', 'fake://b', 'fake://a', 'fake://c', 'fake://b']);
    expect(source.resolveManyCalls).toEqual([['fake://a', 'fake://b', 'fake://c']]);
    expect(source.calls).toBe(0);
    expect(resolver.stats.sourceCalls).toBe(1);
    expect(resolver.peek('fake://b')?.reveal()).toBe('value-b');
    await resolver.resolve('fake://c');
    expect(resolver.stats.sourceCalls).toBe(1);
    expect(resolver.status('fake://a')).toMatchObject({ state: 'ok', lastOkAt: 0 });
  });

  it('skips refs that are fresh, and asks again once they expire', async () => {
    const { clock, source, resolver } = setup({}, new BulkFakeSource());
    await resolver.prefetch(['fake://a']);
    await resolver.prefetch(['fake://a', 'fake://b']);
    expect(source.resolveManyCalls).toEqual([['fake://a'], ['fake://b']]);
    await resolver.prefetch(['fake://a', 'fake://b']);
    expect(source.resolveManyCalls).toHaveLength(2);
    clock.advance(60_000);
    await resolver.prefetch(['fake://a', 'fake://b']);
    expect(source.resolveManyCalls[2]).toEqual(['fake://a', 'fake://b']);
  });

  it('per-ref errors mark only those refs failing; status flips back after a success', async () => {
    const { clock, source, resolver } = setup({}, new BulkFakeSource());
    clock.t = 1_000;
    await resolver.prefetch(['fake://a', 'fake://gone', 'fake://b']);
    expect(resolver.status('fake://a').state).toBe('ok');
    expect(resolver.status('fake://b').state).toBe('ok');
    expect(resolver.status('fake://gone')).toEqual({
      ref: 'fake://gone',
      state: 'failing',
      reason: 'could not resolve fake://gone: no item for fake://gone',
      kind: 'not-found',
      lastErrorAt: 1_000,
    });
    expect(resolver.peek('fake://gone')).toBeUndefined();
    // Negative-cached: no second call within 30 s, by resolve or by prefetch.
    await failure(resolver.resolve('fake://gone'));
    await resolver.prefetch(['fake://gone']);
    expect(resolver.stats.sourceCalls).toBe(1);

    clock.advance(30_001);
    source.values.set('fake://gone', 'found');
    expect((await resolver.resolve('fake://gone')).reveal()).toBe('found');
    expect(resolver.status('fake://gone')).toEqual({
      ref: 'fake://gone',
      state: 'ok',
      lastOkAt: 31_001,
      lastErrorAt: 1_000,
    });
  });

  it('a per-ref transient error fails that ref and cools the source down', async () => {
    const { source, resolver } = setup({}, new BulkFakeSource());
    source.failures.set('fake://b', new SecretSourceError('rate limited', 'transient', 120_000));
    await resolver.prefetch(['fake://a', 'fake://b']);
    expect(resolver.status('fake://a').state).toBe('ok');
    expect(resolver.status('fake://b')).toMatchObject({ state: 'failing', reason: /rate limited/ });
    expect((await failure(resolver.resolve('fake://c'))).kind).toBe('cooldown');
  });

  it('a ref missing from the answer fails without a cooldown', async () => {
    const { source, resolver } = setup({}, new BulkFakeSource());
    source.omit.add('fake://b');
    await resolver.prefetch(['fake://a', 'fake://b']);
    expect(resolver.status('fake://b')).toMatchObject({ state: 'failing', reason: /no result/ });
    expect((await resolver.resolve('fake://c')).reveal()).toBe('value-c');
  });

  it('never throws: a failing bulk call, bad refs and unknown schemes land in status', async () => {
    const { source, resolver } = setup({}, new BulkFakeSource());
    source.bulkFailure = new Error('socket hang up');
    await expect(
      resolver.prefetch(['fake://a', 'fake://b', 'nope://x', 'fake://bad ref', 'sk-pasted-key']),
    ).resolves.toBeUndefined();
    expect(resolver.status('fake://a')).toMatchObject({
      state: 'failing',
      reason: /socket hang up/,
    });
    expect(resolver.status('fake://b').state).toBe('failing');
    expect(resolver.status('nope://x').reason).toContain('unknown scheme "nope"');
    expect(resolver.status('fake://bad ref').reason).toContain('fake://WORD only');
    expect(resolver.status('sk-pasted-key').reason).not.toContain('sk-pasted-key');
    expect(source.resolveManyCalls).toHaveLength(1);
    // The source is cooling down: a second prefetch does not call it.
    await resolver.prefetch(['fake://a', 'fake://c']);
    expect(source.resolveManyCalls).toHaveLength(1);
    expect(resolver.status('fake://c').reason).toMatch(/paused/);
  });

  it('times out the bulk call too', async () => {
    const { source, resolver } = setup({ timeoutMs: 50 }, new BulkFakeSource());
    source.resolveMany = (_refs, signal) => {
      source.signals.push(signal);
      return new Promise<never>(() => {});
    };
    await resolver.prefetch(['fake://a', 'fake://b']);
    expect(resolver.status('fake://a').reason).toMatch(/did not answer within 50 ms/);
    expect(source.signals[0]?.aborted).toBe(true);
  });

  it('resolve() during a prefetch joins it instead of calling the source', async () => {
    const { source, resolver } = setup({}, new BulkFakeSource());
    source.delayMs = 20;
    const prefetching = resolver.prefetch(['fake://a', 'fake://b']);
    const secret = await resolver.resolve('fake://a');
    await prefetching;
    expect(secret.reveal()).toBe('value-a');
    expect(source.resolveManyCalls).toHaveLength(1);
    expect(source.calls).toBe(0);
  });

  it('without resolveMany, resolves each unique ref once', async () => {
    const { source, resolver } = setup();
    await resolver.prefetch(['fake://a', 'fake://b', 'fake://a', 'fake://gone']);
    expect(source.calls).toBe(3);
    expect(resolver.peek('fake://a')?.reveal()).toBe('value-a');
    expect(resolver.status('fake://gone').state).toBe('failing');
  });
});

describe('validate and invalid refs', () => {
  it('dispatches on scheme', () => {
    const { resolver } = setup();
    expect(resolver.validate('fake://a')).toEqual({ ok: true });
    expect(resolver.validate('fake://a b')).toEqual({ ok: false, reason: 'fake://WORD only' });
    expect(resolver.validate('x://y')).toEqual({
      ok: false,
      reason: 'unknown scheme "x"; use env:// or op://',
    });
    expect(resolver.validate('sk-not-a-ref')).toMatchObject({ ok: false });
    expect(resolver.validate('://x')).toMatchObject({ ok: false });
  });

  it('rejects invalid refs without calling a source, and does not repeat a pasted key', async () => {
    const { source, resolver } = setup();
    const unknown = await failure(resolver.resolve('x://y'));
    expect(unknown.kind).toBe('invalid-ref');
    expect(unknown.message).toBe(
      'invalid secret reference x://…: unknown scheme "x"; use env:// or op://',
    );
    const pasted = await failure(resolver.resolve('sk-live-123456'));
    expect(pasted.kind).toBe('invalid-ref');
    expect(pasted.ref).toBe('sk-live-123456');
    expect(pasted.message).not.toContain('sk-live-123456');
    // After a scheme too (issue 9 §5): this message reaches the agent's 502 and the activity log.
    const afterScheme = await failure(resolver.resolve('env://sk-live-123456'));
    expect(afterScheme.message).toMatch(/^invalid secret reference env:\/\/…: /);
    expect(afterScheme.message).not.toContain('sk-live-123456');
    expect(source.calls).toBe(0);
    expect(resolver.status('x://y').state).toBe('failing');
  });

  it('refuses two sources for one scheme', () => {
    expect(() => new SecretResolver({ sources: [new FakeSource(), new FakeSource()] })).toThrow(
      /scheme "fake"/,
    );
  });

  it('refuses nonsense options', () => {
    expect(() => new SecretResolver({ sources: [], ttlMs: 0 })).toThrow(RangeError);
    expect(() => new SecretResolver({ sources: [], timeoutMs: -1 })).toThrow(RangeError);
    expect(() => new SecretResolver({ sources: [], maxEntries: Number.NaN })).toThrow(RangeError);
  });
});

describe('status', () => {
  it('is unknown before any attempt, ok after success, failing after failure', async () => {
    const { clock, source, resolver } = setup();
    expect(resolver.status('fake://a')).toEqual({ ref: 'fake://a', state: 'unknown' });
    clock.t = 5;
    await resolver.resolve('fake://a');
    expect(resolver.status('fake://a')).toEqual({ ref: 'fake://a', state: 'ok', lastOkAt: 5 });
    clock.advance(60_000);
    source.failAll = new SecretSourceError('item deleted', 'not-found');
    await failure(resolver.resolve('fake://a'));
    expect(resolver.status('fake://a')).toEqual({
      ref: 'fake://a',
      state: 'failing',
      reason: 'could not resolve fake://a: item deleted',
      kind: 'not-found',
      lastOkAt: 5,
      lastErrorAt: 60_005,
    });
  });

  it('says what kind of failure it was, so a caller can tell a bad reference from an outage', async () => {
    const { clock, source, resolver } = setup();
    source.failures.set('fake://down', new SecretSourceError('network down', 'transient'));
    await failure(resolver.resolve('fake://down'));
    expect(resolver.status('fake://down')).toMatchObject({ state: 'failing', kind: 'transient' });
    await failure(resolver.resolve('no-scheme'));
    expect(resolver.status('no-scheme')).toMatchObject({ state: 'failing', kind: 'invalid-ref' });

    source.failures.clear();
    source.values.set('fake://down', 'back');
    clock.advance(61_000);
    await resolver.resolve('fake://down');
    expect(resolver.status('fake://down').kind).toBeUndefined();
  });
});

describe('invalidate', () => {
  it('drops one ref', async () => {
    const { source, resolver } = setup();
    await resolver.resolve('fake://a');
    await resolver.resolve('fake://b');
    resolver.invalidate('fake://a');
    expect(resolver.peek('fake://a')).toBeUndefined();
    expect(resolver.peek('fake://b')).toBeDefined();
    await resolver.resolve('fake://a');
    expect(source.calls).toBe(3);
  });

  it('drops everything, negative entries and cooldowns included', async () => {
    const { source, resolver } = setup();
    await resolver.resolve('fake://a');
    await failure(resolver.resolve('fake://gone'));
    source.failures.set('fake://b', new SecretSourceError('token expired', 'transient'));
    await failure(resolver.resolve('fake://b'));
    expect((await failure(resolver.resolve('fake://c'))).kind).toBe('cooldown');
    source.failures.clear();
    source.values.set('fake://gone', 'found');
    resolver.invalidate();
    expect(resolver.peek('fake://a')).toBeUndefined();
    expect((await resolver.resolve('fake://gone')).reveal()).toBe('found');
    expect((await resolver.resolve('fake://b')).reveal()).toBe('value-b');
    expect(source.calls).toBe(5);
  });

  it('does not cache the answer of a call that was in flight when invalidated', async () => {
    const { source, resolver } = setup();
    // The first (old-token) call answers last, so caching it would overwrite the fresh answer.
    const answers = [
      { value: 'old-token-value', delay: 40 },
      { value: 'new-token-value', delay: 10 },
    ];
    source.resolve = async () => {
      const answer = answers[source.calls++];
      if (answer === undefined) throw new Error('unexpected call');
      await sleep(answer.delay);
      return new Secret(answer.value);
    };
    const old = resolver.resolve('fake://a');
    resolver.invalidate();
    const fresh = resolver.resolve('fake://a');
    expect((await fresh).reveal()).toBe('new-token-value');
    expect((await old).reveal()).toBe('old-token-value');
    expect(resolver.peek('fake://a')?.reveal()).toBe('new-token-value');
    expect(source.calls).toBe(2);
  });
});

describe('stats', () => {
  it('counts source calls, hits and misses', async () => {
    const { resolver } = setup();
    await resolver.resolve('fake://a');
    await resolver.resolve('fake://a');
    resolver.peek('fake://a');
    resolver.peek('fake://b');
    expect(resolver.stats).toEqual({ sourceCalls: 1, hits: 2, misses: 1 });
  });
});

describe('defaults', () => {
  it('works on the real clock with no options', async () => {
    const source = new FakeSource();
    source.values.set('fake://a', 'value-a');
    const resolver = new SecretResolver({ sources: [source] });
    await resolver.resolve('fake://a');
    await resolver.resolve('fake://a');
    expect(source.calls).toBe(1);
  });
});
