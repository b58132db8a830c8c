import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { refForError } from './reference-display.js';
import { Secret } from './secret.js';
import { SecretSourceError, type ReferenceCheck, type SecretSource } from './secret-source.js';
import { ResolutionStatusTable, type RefStatus } from './resolution-status.js';
import { SecretResolutionError } from './secret-resolution-error.js';
import { callSource, causeOf, describeThrown, formatDuration } from './source-call.js';

export { SecretResolutionError, type SecretResolutionKind } from './secret-resolution-error.js';
export type { RefStatus } from './resolution-status.js';

/** A millisecond clock. Only differences are used, so any monotonic origin works. */
export interface Clock {
  now(): number;
}

export interface SecretResolverOptions {
  sources: readonly SecretSource[];
  /** Drives every TTL and cooldown. Default `performance` (monotonic). */
  clock?: Clock;
  /** How long a resolved secret is served from memory. Default 60 s. */
  ttlMs?: number;
  /** How long a 'not-found' answer is remembered. Default 30 s; 0 turns it off. */
  negativeTtlMs?: number;
  /**
   * After a transient failure or a timeout the source (by scheme) is not called again for this
   * long. A longer `retryAfterMs` from the source wins. Default 60 s.
   */
  cooldownMs?: number;
  /** Bound on each source call, on real timers. Default 10 s; the 1Password SDK hangs up to 300 s. */
  timeoutMs?: number;
  /** Bound on each of the cache, the negative cache and the status table. Default 1000. */
  maxEntries?: number;
  /**
   * `refreshAfterRejection` asks the source again for one reference at most once per this long.
   * Default 30 s: a key the upstream keeps refusing must not spend the 1Password hourly budget.
   */
  refreshIntervalMs?: number;
}

const DEFAULT_TTL_MS = 60_000;
const DEFAULT_NEGATIVE_TTL_MS = 30_000;
const DEFAULT_COOLDOWN_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_ENTRIES = 1000;
const DEFAULT_REFRESH_INTERVAL_MS = 30_000;

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const NO_SCHEME_REASON = 'not a secret reference; use env://NAME or op://vault/item/field';

interface CacheEntry {
  readonly secret: Secret;
  readonly expiresAt: number;
}
interface NegativeEntry {
  readonly message: string;
  readonly expiresAt: number;
}
interface Cooldown {
  readonly until: number;
  readonly cause: string;
}
type Route =
  | { readonly source: SecretSource; readonly reason?: undefined }
  | { readonly source?: undefined; readonly reason: string };

/** resolveMany answered, but not about this reference: a source bug, not a reason to cool down. */
class NoResult extends SecretSourceError {
  constructor(scheme: string) {
    super(`the ${scheme} source returned no result for this reference`, 'transient');
  }
}

/**
 * The only way the proxy gets secrets. In front of every source it adds a positive cache, a
 * negative cache for 'not-found', single-flight (one source call per reference however many
 * requests wait), a per-source cooldown after transient failures, and a timeout.
 *
 * Deliberately simple: an expired entry is dropped, never served stale, even when the refresh
 * fails. All TTL and cooldown timing reads the injected clock; only timeouts use real timers.
 *
 * lru-cache bounds the tables (LRU eviction) but its own `ttl` is not used: it caches `now()` for
 * `ttlResolution` ms behind a timer, and treats an entry stored at clock time 0 as immortal, both
 * wrong with an injected clock. Expiry is a plain `expiresAt` compared to `clock.now()`.
 */
export class SecretResolver {
  /** Calls made to sources (`resolve` and `resolveMany` count one each); cache hits; misses. */
  readonly stats = { sourceCalls: 0, hits: 0, misses: 0 };

  readonly #sources = new Map<string, SecretSource>();
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;
  readonly #cooldownMs: number;
  readonly #timeoutMs: number;
  readonly #cache: LRUCache<string, CacheEntry>;
  readonly #negative: LRUCache<string, NegativeEntry>;
  readonly #status: ResolutionStatusTable;
  readonly #cooldowns = new Map<string, Cooldown>();
  /** In-flight resolutions by reference; the promise's identity marks it current. */
  readonly #flights = new Map<string, Promise<Secret>>();
  readonly #refreshIntervalMs: number;
  /** refreshAfterRejection: the one refresh in flight per reference, and when each last ran. */
  readonly #refreshes = new Map<string, Promise<Secret | undefined>>();
  readonly #lastRefreshAt: LRUCache<string, number>;

  constructor(options: SecretResolverOptions) {
    for (const source of options.sources) {
      if (this.#sources.has(source.scheme)) {
        throw new Error(`two secret sources claim the scheme "${source.scheme}"`);
      }
      this.#sources.set(source.scheme, source);
    }
    this.#clock = options.clock ?? performance;
    this.#ttlMs = positive('ttlMs', options.ttlMs ?? DEFAULT_TTL_MS);
    this.#negativeTtlMs = nonNegative(
      'negativeTtlMs',
      options.negativeTtlMs ?? DEFAULT_NEGATIVE_TTL_MS,
    );
    this.#cooldownMs = nonNegative('cooldownMs', options.cooldownMs ?? DEFAULT_COOLDOWN_MS);
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const max = Math.floor(positive('maxEntries', options.maxEntries ?? DEFAULT_MAX_ENTRIES));
    this.#cache = new LRUCache({ max });
    this.#negative = new LRUCache({ max });
    this.#status = new ResolutionStatusTable(max);
    this.#lastRefreshAt = new LRUCache({ max });
    this.#refreshIntervalMs = nonNegative(
      'refreshIntervalMs',
      options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS,
    );
  }

  /** Offline check. Unknown scheme → `unknown scheme "x"; use env:// or op://`. */
  validate(ref: string): ReferenceCheck {
    const route = this.#route(ref);
    return route.source ? { ok: true } : { ok: false, reason: route.reason };
  }

  /** Hot path, synchronous: a fresh cached secret or undefined. Misses are not counted here. */
  peek(ref: string): Secret | undefined {
    const secret = this.#fresh(ref);
    if (secret !== undefined) this.stats.hits++;
    return secret;
  }

  /**
   * Cache → in-flight call (joined) → validation → negative cache → cooldown → one source call
   * with a timeout. Concurrent callers for one reference share one source call.
   */
  resolve(ref: string): Promise<Secret> {
    const cached = this.#fresh(ref);
    if (cached !== undefined) {
      this.stats.hits++;
      return Promise.resolve(cached);
    }
    this.stats.misses++;
    const flight = this.#flights.get(ref);
    if (flight !== undefined) return flight;

    const route = this.#route(ref);
    if (route.source === undefined) {
      return Promise.reject(this.#markFailing(invalidRef(ref, route.reason)));
    }
    const refused = this.#refusal(ref, route.source.scheme);
    if (refused !== undefined) return Promise.reject(refused);

    const source = route.source;
    const call = this.#call(source.scheme, (signal) => source.resolve(ref, signal));
    return this.#track(ref, source.scheme, call);
  }

  /**
   * Warm the cache for many references: deduplicated, grouped by source, one `resolveMany` call
   * per source when it has one, else one `resolve` each. Fresh, negatively cached and in-flight
   * references are not asked again; sources in cooldown are not called. Never throws: failures
   * land in `status`.
   */
  async prefetch(refs: readonly string[]): Promise<void> {
    const waits: Promise<Secret>[] = [];
    const groups = new Map<SecretSource, string[]>();
    for (const ref of new Set(refs)) {
      if (this.#fresh(ref) !== undefined) continue;
      const flight = this.#flights.get(ref);
      if (flight !== undefined) {
        waits.push(flight);
        continue;
      }
      const route = this.#route(ref);
      if (route.source === undefined) {
        this.#markFailing(invalidRef(ref, route.reason));
        continue;
      }
      if (this.#refusal(ref, route.source.scheme) !== undefined) continue;
      const group = groups.get(route.source);
      if (group) group.push(ref);
      else groups.set(route.source, [ref]);
    }

    for (const [source, group] of groups) {
      const resolveMany = source.resolveMany?.bind(source);
      if (resolveMany === undefined) {
        for (const ref of group) {
          const call = this.#call(source.scheme, (signal) => source.resolve(ref, signal));
          waits.push(this.#track(ref, source.scheme, call));
        }
        continue;
      }
      const bulk = this.#call(source.scheme, (signal) => resolveMany(group, signal));
      for (const ref of group) {
        const one = bulk.then((results) => {
          const result = results.get(ref);
          if (result === undefined) throw new NoResult(source.scheme);
          if (result instanceof Error) throw result;
          return result;
        });
        waits.push(this.#track(ref, source.scheme, one));
      }
    }
    await Promise.allSettled(waits);
  }

  /** 'failing' from a failure until the next success; 'unknown' if never tried (or evicted). */
  status(ref: string): RefStatus {
    return this.#status.get(ref);
  }

  /**
   * The upstream answered 401/403 to a request that carried `rejected`, the cached value of `ref`:
   * maybe the key was rotated in 1Password (docs/onepassword.md, "Rotation"). Drop that cache
   * entry and resolve again, once: concurrent callers share one refresh, and a reference is
   * refreshed at most once per `refreshIntervalMs`. Resolves to the NEW value when there is one
   * (then a replay may succeed), else undefined: the value did not change, the refresh was rate-
   * limited, or it failed (the failure lands in `status` as any resolution's would). Never throws.
   */
  refreshAfterRejection(ref: string, rejected: Secret): Promise<Secret | undefined> {
    const differs = (secret: Secret | undefined): Secret | undefined =>
      secret !== undefined && secret.reveal() !== rejected.reveal() ? secret : undefined;
    // Someone already refreshed it: use theirs.
    const current = differs(this.#fresh(ref));
    if (current !== undefined) return Promise.resolve(current);
    const running = this.#refreshes.get(ref);
    if (running !== undefined) return running.then(differs);
    const now = this.#clock.now();
    const last = this.#lastRefreshAt.get(ref);
    if (last !== undefined && now - last < this.#refreshIntervalMs)
      return Promise.resolve(undefined);
    this.#lastRefreshAt.set(ref, now);
    // Only the rejected value is dropped: a newer one cached meanwhile was returned above.
    if (this.#cache.get(ref)?.secret.reveal() === rejected.reveal()) this.#cache.delete(ref);
    const refresh = this.resolve(ref).then(differs, () => undefined);
    this.#refreshes.set(ref, refresh);
    void refresh.finally(() => {
      if (this.#refreshes.get(ref) === refresh) this.#refreshes.delete(ref);
    });
    return refresh;
  }

  /**
   * Forget cached answers for one reference, or everything (e.g. the token changed). With no
   * argument cooldowns are lifted too. Calls already in flight are not aborted, but their results
   * are no longer cached and new callers start a fresh call. Status history is kept.
   */
  invalidate(ref?: string): void {
    if (ref === undefined) {
      this.#cache.clear();
      this.#negative.clear();
      this.#flights.clear();
      this.#cooldowns.clear();
      return;
    }
    this.#cache.delete(ref);
    this.#negative.delete(ref);
    this.#flights.delete(ref);
  }

  #fresh(ref: string): Secret | undefined {
    const entry = this.#cache.get(ref);
    if (entry === undefined) return undefined;
    if (this.#clock.now() < entry.expiresAt) return entry.secret;
    this.#cache.delete(ref);
    return undefined;
  }

  #route(ref: string): Route {
    const at = ref.indexOf('://');
    const scheme = at > 0 ? ref.slice(0, at) : '';
    if (!SCHEME.test(scheme)) return { reason: NO_SCHEME_REASON };
    const source = this.#sources.get(scheme);
    if (source === undefined) return { reason: `unknown scheme "${scheme}"; use env:// or op://` };
    let check: ReferenceCheck;
    try {
      check = source.validate(ref);
    } catch (err) {
      return { reason: `the ${scheme} source could not check it: ${describeThrown(err)}` };
    }
    return check.ok ? { source } : { reason: check.reason ?? `not a valid ${scheme}:// reference` };
  }

  /** A negative-cache or cooldown rejection, or undefined if the source may be called. */
  #refusal(ref: string, scheme: string): SecretResolutionError | undefined {
    const now = this.#clock.now();
    const negative = this.#negative.get(ref);
    if (negative !== undefined) {
      if (now < negative.expiresAt) {
        return new SecretResolutionError(negative.message, ref, 'not-found');
      }
      this.#negative.delete(ref);
    }
    const cooldown = this.#cooldowns.get(scheme);
    if (cooldown !== undefined) {
      if (now < cooldown.until) {
        const left = cooldown.until - now;
        return this.#markFailing(
          new SecretResolutionError(
            `could not resolve ${ref}: the ${scheme} source is paused for ${formatDuration(left)} ` +
              `more after an error (${cooldown.cause})`,
            ref,
            'cooldown',
            left,
          ),
        );
      }
      this.#cooldowns.delete(scheme);
    }
    return undefined;
  }

  /** Register `call` as the in-flight resolution of `ref` and record its outcome. */
  #track(ref: string, scheme: string, call: Promise<unknown>): Promise<Secret> {
    const flight: Promise<Secret> = call
      .then((value) => {
        if (!(value instanceof Secret)) {
          // Never echo `value`: a buggy source may hand back the raw string.
          throw new SecretSourceError(
            `the ${scheme} source returned something other than a secret`,
            'transient',
          );
        }
        return value;
      })
      .then(
        (secret) => {
          if (this.#flights.get(ref) === flight) {
            this.#flights.delete(ref);
            const now = this.#clock.now();
            this.#cache.set(ref, { secret, expiresAt: now + this.#ttlMs });
            this.#negative.delete(ref);
            this.#status.recordOk(ref, now);
          }
          return secret;
        },
        (err: unknown) => {
          const error = this.#classify(ref, scheme, err);
          if (this.#flights.get(ref) === flight) {
            this.#flights.delete(ref);
            this.#recordFailure(error, scheme, err);
          }
          throw error;
        },
      );
    this.#flights.set(ref, flight);
    return flight;
  }

  #classify(ref: string, scheme: string, err: unknown): SecretResolutionError {
    if (err instanceof SecretResolutionError) return err;
    const [kind, cause] = causeOf(scheme, err);
    const message = `could not resolve ${ref}: ${cause}`;
    return new SecretResolutionError(message, ref, kind, undefined, { cause: err });
  }

  #recordFailure(error: SecretResolutionError, scheme: string, original: unknown): void {
    const now = this.#clock.now();
    if (error.kind === 'not-found') {
      if (this.#negativeTtlMs > 0) {
        const expiresAt = now + this.#negativeTtlMs;
        this.#negative.set(error.ref, { message: error.message, expiresAt });
      }
    } else if (!(original instanceof NoResult)) {
      // 'transient' and 'timeout': the whole source pauses.
      const retryAfterMs = original instanceof SecretSourceError ? (original.retryAfterMs ?? 0) : 0;
      const until = now + Math.max(this.#cooldownMs, retryAfterMs);
      const current = this.#cooldowns.get(scheme);
      if (until > now && (current === undefined || current.until < until)) {
        const cause = `${causeOf(scheme, original)[1]}, resolving ${error.ref}`;
        this.#cooldowns.set(scheme, { until, cause });
      }
    }
    this.#markFailing(error, now);
  }

  #markFailing(error: SecretResolutionError, now = this.#clock.now()): SecretResolutionError {
    this.#status.recordFailure(error.ref, error.message, error.kind, now);
    return error;
  }

  /** One source call, counted, bounded by `timeoutMs` (source-call.ts). */
  #call<T>(scheme: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.stats.sourceCalls++;
    return callSource(scheme, this.#timeoutMs, call);
  }
}

function invalidRef(ref: string, reason: string): SecretResolutionError {
  // It may be a pasted key: only its scheme is repeated (and nothing when it has none).
  const shown = reason === NO_SCHEME_REASON ? '' : ` ${refForError(ref)}`;
  return new SecretResolutionError(
    `invalid secret reference${shown}: ${reason}`,
    ref,
    'invalid-ref',
  );
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive number of milliseconds`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(value >= 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be zero or a positive number`);
  }
  return value;
}
