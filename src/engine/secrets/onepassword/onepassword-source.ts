import type { OnePasswordAccountStatus, OnePasswordProblem } from '../../../shared/api.js';
import { performance } from 'node:perf_hooks';
import { Secret } from '../secret.js';
import type { Clock } from '../secret-resolver.js';
import { SecretSourceError, type ReferenceCheck, type SecretSource } from '../secret-source.js';
import { abortable, OpAbortError } from './abortable.js';
import { OpClientPool } from './client-pool.js';
import {
  mapResolveError,
  mapSdkError,
  OpAuthExpiredError,
  problemOf,
  UNREACHABLE_MESSAGE,
} from './error-mapping.js';
import type { OpAuth, OpClient, OpClientFactory } from './op-client.js';
import { validateOpReference } from './reference.js';

/** One connected 1Password account. */
export interface OpAccountConfig {
  /** How mappings name it (`account` field) and the pool's key. Unique. */
  name: string;
  auth: OpAuth;
  /** Service-account reads allowed per hour on this account's plan. Default 1,000 (Business: 10,000). */
  hourlyLimit?: number;
}

export interface OnePasswordSecretSourceOptions {
  factory: OpClientFactory;
  /**
   * The accounts, read on every call, so a token set or cleared at runtime takes effect without
   * rebuilding the source. The first is the default account. Empty: nothing connected.
   */
  accounts: () => readonly OpAccountConfig[];
  /**
   * Which account a reference belongs to (from the mapping's `account` field); undefined means
   * the default account. The resolver caches by reference string, so one reference string maps
   * to one account.
   */
  accountFor?: (ref: string) => string | undefined;
  /** Statuses of accounts that could not be set up at all (e.g. an unreadable token store). */
  extraStatus?: () => readonly OpAccountStatus[];
  pool?: { max?: number; idleMs?: number };
  /** Monotonic clock for pool idle expiry and the hourly read window. Default `performance`. */
  clock?: Clock;
  /** Wall clock for `lastSuccessAt`. Default `Date.now`. */
  wallClock?: () => number;
  limits?: {
    /** Default 1,000 reads per hour (Teams and individual plans). */
    defaultHourlyLimit?: number;
  };
}

/** Per-account status, as the contract reports it (src/shared/api.ts). */
export type OpAccountStatus = OnePasswordAccountStatus;

export const DEFAULT_HOURLY_LIMIT = 1000;
export const BUSINESS_HOURLY_LIMIT = 10_000;
const HOUR_MS = 3_600_000;
const BUCKET_MS = 60_000;
const NO_ACCOUNT_MESSAGE =
  'no 1Password account connected: run `keygate token set` or set OP_SERVICE_ACCOUNT_TOKEN';

interface AccountState {
  lastSuccessAt: number | undefined;
  lastError: string | undefined;
  problem: OnePasswordProblem | undefined;
  /** Reads per minute bucket (bucket index → count), for the sliding hour. */
  readonly reads: Map<number, number>;
}

/**
 * `op://vault/item/[section/]field`, resolved in-process by the official 1Password SDK
 * (`@1password/sdk`, loaded on first need). No `op` CLI, no child process.
 *
 * The resolver in front of it supplies caching, single-flight, cooldown and the timeout; this
 * source maps SDK answers to SecretSourceError kinds, keeps one SDK client per account in an
 * `OpClientPool`, recreates a client once on AuthExpiredError, and counts reads against the
 * hourly limit. Secrets are only ever held in `Secret` objects, in memory.
 *
 * Every lookup uses `secrets.resolveAll`, even for one reference: it reports per-reference
 * failures as typed errors (`itemNotFound`, `fieldNotFound`…), where `secrets.resolve` throws a
 * bare Error whose only clue is its text.
 *
 * With no account connected every lookup fails 'transient' (so it is retried once a token is
 * set). The resolver then pauses op:// for its cooldown; after connecting an account call
 * `resolver.invalidate()`, which lifts cooldowns.
 */
export class OnePasswordSecretSource implements SecretSource {
  readonly scheme = 'op';

  readonly #accounts: () => readonly OpAccountConfig[];
  readonly #accountFor: ((ref: string) => string | undefined) | undefined;
  readonly #extraStatus: (() => readonly OpAccountStatus[]) | undefined;
  readonly #pool: OpClientPool;
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #defaultHourlyLimit: number;
  readonly #state = new Map<string, AccountState>();

  constructor(options: OnePasswordSecretSourceOptions) {
    this.#accounts = options.accounts;
    this.#accountFor = options.accountFor;
    this.#extraStatus = options.extraStatus;
    this.#clock = options.clock ?? performance;
    this.#wallClock = options.wallClock ?? Date.now;
    this.#defaultHourlyLimit = options.limits?.defaultHourlyLimit ?? DEFAULT_HOURLY_LIMIT;
    this.#pool = new OpClientPool({
      factory: options.factory,
      clock: this.#clock,
      ...(options.pool?.max !== undefined ? { max: options.pool.max } : {}),
      ...(options.pool?.idleMs !== undefined ? { idleMs: options.pool.idleMs } : {}),
    });
  }

  /** The client pool, for status and tests. */
  get pool(): OpClientPool {
    return this.#pool;
  }

  validate(ref: string): ReferenceCheck {
    return validateOpReference(ref);
  }

  resolve(ref: string, signal: AbortSignal): Promise<Secret> {
    return this.resolveForAccount(this.#accountFor?.(ref), ref, signal);
  }

  /** Resolve with a named account (undefined: the default one). For `map test` and live checks. */
  async resolveForAccount(
    account: string | undefined,
    ref: string,
    signal: AbortSignal,
  ): Promise<Secret> {
    const results = await this.#resolveGroup(account, [ref], signal);
    const result = results.get(ref);
    if (result instanceof Secret) return result;
    throw result ?? new SecretSourceError('1Password returned no result for it', 'transient');
  }

  /**
   * Deduplicated; one `resolveAll` per account. When every account's call fails the error is
   * thrown (so the resolver sees a source failure), else failed accounts' references carry it.
   */
  async resolveMany(
    refs: readonly string[],
    signal: AbortSignal,
  ): Promise<Map<string, Secret | SecretSourceError>> {
    const groups = new Map<string | undefined, string[]>();
    for (const ref of new Set(refs)) {
      const account = this.#accountFor?.(ref);
      const group = groups.get(account);
      if (group) group.push(ref);
      else groups.set(account, [ref]);
    }
    const out = new Map<string, Secret | SecretSourceError>();
    const settled = await Promise.allSettled(
      [...groups].map(async ([account, group]) => {
        try {
          for (const [ref, result] of await this.#resolveGroup(account, group, signal)) {
            out.set(ref, result);
          }
        } catch (err) {
          const error = err instanceof SecretSourceError ? err : mapSdkError(err);
          for (const ref of group) out.set(ref, error);
          throw error;
        }
      }),
    );
    const failures = settled.filter((s) => s.status === 'rejected');
    if (failures.length > 0 && failures.length === settled.length) {
      throw (failures[0] as PromiseRejectedResult).reason;
    }
    return out;
  }

  /** The pooled SDK client for an account (default: the first), e.g. for discovery. */
  async client(account?: string, signal?: AbortSignal): Promise<OpClient> {
    const config = this.#pick(account);
    return this.#withClient(config, signal, async (client) => client);
  }

  status(): OpAccountStatus[] {
    const now = this.#clock.now();
    const configured = this.#accounts().map((account) => {
      const state = this.#state.get(account.name);
      const status: OpAccountStatus = {
        account: account.name,
        mode: account.auth.kind,
        connected: state?.lastSuccessAt !== undefined && state.lastError === undefined,
        readsThisHour: state ? readsSince(state, now - HOUR_MS) : 0,
        hourlyLimit: account.hourlyLimit ?? this.#defaultHourlyLimit,
      };
      if (state?.lastSuccessAt !== undefined) {
        status.lastSuccessAt = new Date(state.lastSuccessAt).toISOString();
      }
      if (state?.lastError !== undefined) {
        status.lastError = state.lastError;
        status.problem = state.problem ?? 'unavailable';
      }
      return status;
    });
    return [...configured, ...(this.#extraStatus?.() ?? [])];
  }

  explain(): string {
    const accounts = this.#accounts();
    if (accounts.length === 0) {
      return 'op: 1Password via the SDK; no account connected (keygate token set, or OP_SERVICE_ACCOUNT_TOKEN)';
    }
    const list = accounts
      .map((a, i) => `${a.name} (${describeAuth(a.auth)}${i === 0 ? ', default' : ''})`)
      .join(', ');
    return `op: 1Password via the SDK, in-process; accounts: ${list}`;
  }

  /** One resolveAll for refs of one account; per-ref results. Throws for account-level failures. */
  async #resolveGroup(
    account: string | undefined,
    refs: readonly string[],
    signal: AbortSignal,
  ): Promise<Map<string, Secret | SecretSourceError>> {
    const out = new Map<string, Secret | SecretSourceError>();
    const asked: string[] = [];
    for (const ref of refs) {
      const check = validateOpReference(ref);
      if (check.ok) asked.push(ref);
      else
        out.set(ref, new SecretSourceError(check.reason ?? 'invalid op:// reference', 'not-found'));
    }
    if (asked.length === 0) return out;
    if (signal.aborted) throw new OpAbortError('the 1Password lookup', signal);
    const config = this.#pick(account);
    const response = await this.#withClient(config, signal, (client) => {
      this.#countReads(config.name, asked.length);
      return client.secrets.resolveAll(asked);
    });
    for (const ref of asked) {
      const answer = response.individualResponses[ref];
      if (answer?.content !== undefined && typeof answer.content.secret === 'string') {
        out.set(ref, new Secret(answer.content.secret));
      } else if (answer?.error !== undefined) {
        out.set(ref, mapResolveError(answer.error, ref));
      } else {
        out.set(ref, new SecretSourceError('1Password returned no result for it', 'transient'));
      }
    }
    return out;
  }

  /** The account to use: by name, else the first. Throws when none (or no such name). */
  #pick(name: string | undefined): OpAccountConfig {
    const accounts = this.#accounts();
    const first = accounts[0];
    if (first === undefined) throw new SecretSourceError(NO_ACCOUNT_MESSAGE, 'transient');
    if (name === undefined) return first;
    const found = accounts.find((a) => a.name === name);
    if (found === undefined) {
      // Permanent until the settings change; 'not-found' keeps one bad mapping from pausing
      // every op:// lookup.
      throw new SecretSourceError(
        `no 1Password account named "${name}" is connected (connected: ${accounts.map((a) => a.name).join(', ')})`,
        'not-found',
      );
    }
    return found;
  }

  /**
   * Run `call` with the account's client. AuthExpiredError: recreate the client once and retry;
   * a second expiry is transient. Records the account's health; maps every failure.
   */
  async #withClient<T>(
    account: OpAccountConfig,
    signal: AbortSignal | undefined,
    call: (client: OpClient) => Promise<T>,
  ): Promise<T> {
    const scrub = account.auth.kind === 'service-account' ? [account.auth.token.reveal()] : [];
    let client: OpClient | undefined;
    try {
      client = await abortable(this.#pool.get(account.name, account.auth, signal), signal);
      const result = await abortable(call(client), signal);
      this.#recordSuccess(account.name);
      return result;
    } catch (first) {
      if (first instanceof OpAbortError) throw this.#recordAbort(account.name, first, signal);
      const mapped = mapSdkError(first, scrub);
      if (!(mapped instanceof OpAuthExpiredError)) throw this.#recordFailure(account.name, mapped);
      try {
        client = await abortable(
          this.#pool.recreate(account.name, account.auth, client, signal),
          signal,
        );
        const result = await abortable(call(client), signal);
        this.#recordSuccess(account.name);
        return result;
      } catch (second) {
        if (second instanceof OpAbortError) throw this.#recordAbort(account.name, second, signal);
        const again = mapSdkError(second, scrub);
        const error =
          again instanceof OpAuthExpiredError
            ? new SecretSourceError(
                'the 1Password session expired again right after reconnecting',
                'transient',
                undefined,
                { cause: again },
              )
            : again;
        throw this.#recordFailure(account.name, error);
      }
    }
  }

  #stateOf(account: string): AccountState {
    let state = this.#state.get(account);
    if (state === undefined) {
      state = {
        lastSuccessAt: undefined,
        lastError: undefined,
        problem: undefined,
        reads: new Map(),
      };
      this.#state.set(account, state);
    }
    return state;
  }

  #recordSuccess(account: string): void {
    const state = this.#stateOf(account);
    state.lastSuccessAt = this.#wallClock();
    state.lastError = undefined;
    state.problem = undefined;
  }

  /** Account-level failures only: a reference that does not resolve says nothing about the account. */
  #recordFailure(account: string, error: SecretSourceError): SecretSourceError {
    if (error.kind === 'transient') {
      const state = this.#stateOf(account);
      state.lastError = error.message;
      state.problem = problemOf(error) ?? 'unavailable';
    } else this.#recordSuccess(account);
    return error;
  }

  /** A timeout (the resolver's, or any TimeoutError) says the account is unhealthy; a plain cancel does not. */
  #recordAbort(
    account: string,
    error: OpAbortError,
    signal: AbortSignal | undefined,
  ): OpAbortError {
    const reason: unknown = signal?.reason;
    if (reason instanceof Error && reason.name === 'TimeoutError') {
      const state = this.#stateOf(account);
      state.lastError = `${UNREACHABLE_MESSAGE}: no answer in time (${reason.message})`;
      state.problem = 'unreachable';
    }
    return error;
  }

  #countReads(account: string, count: number): void {
    const state = this.#stateOf(account);
    const now = this.#clock.now();
    const bucket = Math.floor(now / BUCKET_MS);
    state.reads.set(bucket, (state.reads.get(bucket) ?? 0) + count);
    const oldest = Math.floor((now - HOUR_MS) / BUCKET_MS);
    for (const key of state.reads.keys()) if (key < oldest) state.reads.delete(key);
  }
}

function readsSince(state: AccountState, since: number): number {
  const first = Math.floor(since / BUCKET_MS) + 1;
  let total = 0;
  for (const [bucket, count] of state.reads) if (bucket >= first) total += count;
  return total;
}

function describeAuth(auth: OpAuth): string {
  return auth.kind === 'service-account' ? 'service account' : `desktop app, ${auth.accountName}`;
}
