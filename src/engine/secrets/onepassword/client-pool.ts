import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../secret-resolver.js';
import type { OpAuth, OpClient, OpClientFactory } from './op-client.js';

export interface OpClientPoolOptions {
  factory: OpClientFactory;
  /** Most clients kept at once (least recently used goes first). Default 50. */
  max?: number;
  /** A client unused this long is dropped. Default 30 minutes. */
  idleMs?: number;
  /** Drives idle expiry. Default `performance` (monotonic). */
  clock?: Clock;
}

export interface OpClientPoolStats {
  /** Clients made by the factory. */
  created: number;
  /** Clients dropped because the pool was full ('evict') or idle too long ('expire'). */
  evicted: number;
  /** Clients dropped for any reason, evictions included (replaced, recreated, cleared). */
  disposed: number;
}

interface PoolEntry {
  readonly client: OpClient;
  /** Which credentials made it: a new token (or account name) means a new client. */
  readonly authKey: string;
}

interface Pending {
  readonly promise: Promise<OpClient>;
  readonly authKey: string;
}

const DEFAULT_MAX = 50;
const DEFAULT_IDLE_MS = 30 * 60_000;

/**
 * SDK clients by account id, in an lru-cache: at most `max`, dropped after `idleMs` unused
 * (`ttl` + `updateAgeOnGet`, timed by the injected clock through lru-cache's `perf` option).
 *
 * Creating a client is single-flight per account: concurrent `get`s share one factory call.
 * A failed creation is not remembered; the next `get` tries again. Nor is an abandoned one: the
 * SDK's createClient can hang for minutes on a silent server (and cannot be cancelled), so when a
 * caller's `signal` aborts while it waits, the pending creation is dropped, and the next `get`
 * starts a fresh one (which works as soon as the network is back). A late client from the
 * dropped creation is discarded.
 *
 * The SDK has no close(): dropping a client means releasing every reference to it (the SDK's
 * FinalizationRegistry then frees its WASM state). An evicted client is never handed out again.
 *
 * lru-cache details that matter with an injected clock: `ttlResolution: 0` so it never caches
 * `now()` behind a real timer, and a +1 offset on the clock because lru-cache treats an entry
 * stamped at time 0 as immortal. Expiry is lazy (checked on `get`, and by `purgeIdle()`), so
 * no timers run at all.
 */
export class OpClientPool {
  readonly stats: OpClientPoolStats = { created: 0, evicted: 0, disposed: 0 };

  readonly #factory: OpClientFactory;
  readonly #cache: LRUCache<string, PoolEntry>;
  readonly #pending = new Map<string, Pending>();

  constructor(options: OpClientPoolOptions) {
    this.#factory = options.factory;
    const clock = options.clock ?? performance;
    const max = options.max ?? DEFAULT_MAX;
    const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a positive integer');
    if (!(idleMs > 0) || !Number.isFinite(idleMs)) {
      throw new RangeError('idleMs must be a positive number of milliseconds');
    }
    this.#cache = new LRUCache<string, PoolEntry>({
      max,
      ttl: idleMs,
      updateAgeOnGet: true,
      ttlResolution: 0,
      perf: { now: () => clock.now() + 1 },
      dispose: (_entry, _account, reason) => {
        // Nothing to close: forgetting the entry releases the client.
        this.stats.disposed++;
        if (reason === 'evict' || reason === 'expire') this.stats.evicted++;
      },
    });
  }

  /** Clients currently held (idle ones count until purged). */
  get size(): number {
    return this.#cache.size;
  }

  /** Whether a live (not idle-expired) client is held for `account`. Does not refresh it. */
  has(account: string): boolean {
    return this.#cache.has(account);
  }

  /**
   * The account's client, created on first use (or when `auth` changed). Using a client
   * refreshes its idle timer.
   */
  get(account: string, auth: OpAuth, signal?: AbortSignal): Promise<OpClient> {
    this.purgeIdle();
    const authKey = keyOf(auth);
    const entry = this.#cache.get(account);
    if (entry !== undefined && entry.authKey === authKey) return Promise.resolve(entry.client);
    const pending = this.#pending.get(account);
    if (pending !== undefined && pending.authKey === authKey) {
      return this.#dropOnAbort(account, pending.promise, signal);
    }
    return this.#dropOnAbort(account, this.#create(account, auth, authKey), signal);
  }

  /** Creations in flight (for tests and status). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** When the caller gives up on a creation, nobody should join it any more. */
  #dropOnAbort(
    account: string,
    promise: Promise<OpClient>,
    signal: AbortSignal | undefined,
  ): Promise<OpClient> {
    if (signal === undefined) return promise;
    const drop = (): void => {
      if (this.#pending.get(account)?.promise === promise) this.#pending.delete(account);
    };
    if (signal.aborted) drop();
    else {
      signal.addEventListener('abort', drop, { once: true });
      const forget = (): void => signal.removeEventListener('abort', drop);
      promise.then(forget, forget);
    }
    return promise;
  }

  /**
   * After AuthExpiredError: replace `failed` with a fresh client. If another caller already
   * replaced it, that newer client (or its creation in flight) is shared: many requests failing
   * together cause one new client, not many.
   */
  recreate(
    account: string,
    auth: OpAuth,
    failed?: OpClient,
    signal?: AbortSignal,
  ): Promise<OpClient> {
    const authKey = keyOf(auth);
    const entry = this.#cache.peek(account);
    if (entry !== undefined && entry.client !== failed && entry.authKey === authKey) {
      return Promise.resolve(entry.client);
    }
    const pending = this.#pending.get(account);
    if (pending !== undefined && pending.authKey === authKey) {
      return this.#dropOnAbort(account, pending.promise, signal);
    }
    if (entry !== undefined) this.#cache.delete(account);
    return this.#dropOnAbort(account, this.#create(account, auth, authKey), signal);
  }

  /** Drop one account's client (e.g. its token was cleared). */
  delete(account: string): void {
    this.#pending.delete(account);
    this.#cache.delete(account);
  }

  /** Drop every client. */
  clear(): void {
    this.#pending.clear();
    this.#cache.clear();
  }

  /** Drop clients idle longer than `idleMs` now, rather than on their next lookup. */
  purgeIdle(): void {
    this.#cache.purgeStale();
  }

  #create(account: string, auth: OpAuth, authKey: string): Promise<OpClient> {
    let promise: Promise<OpClient>;
    try {
      promise = Promise.resolve(this.#factory(auth));
    } catch (err) {
      promise = Promise.reject(err);
    }
    const tracked = promise.then(
      (client) => {
        this.stats.created++;
        if (this.#pending.get(account)?.promise === tracked) {
          this.#pending.delete(account);
          this.#cache.set(account, { client, authKey });
        }
        return client;
      },
      (err: unknown) => {
        if (this.#pending.get(account)?.promise === tracked) this.#pending.delete(account);
        throw err;
      },
    );
    this.#pending.set(account, { promise: tracked, authKey });
    return tracked;
  }
}

/** Identifies credentials without holding them: a token fingerprint, or the account name. */
function keyOf(auth: OpAuth): string {
  return auth.kind === 'service-account'
    ? `sa:${auth.token.fingerprint()}`
    : `desktop:${auth.accountName}`;
}
