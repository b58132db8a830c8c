/**
 * Approvals (issue 13; docs/agents.md, "Approvals"): an agent set to ask has its first request
 * for each mapping's secret held, in memory, until the user answers or the timeout passes. As a
 * `RequestHooks.beforeSecret`, it runs after admission and before any secret is resolved.
 *
 *  - One pending approval per agent × mapping × host; concurrent requests for it join it.
 *  - Held requests are bounded, per agent and in all; over the bound, 429 keygate_approval_busy.
 *  - A request whose agent closed its connection leaves at once; an approval nobody waits for
 *    any more is dropped from the list.
 *  - Allow (for a while) lives here; Always is stored in settings (ApprovalPolicy); Deny is
 *    remembered briefly so a retry loop fails fast instead of asking again and again.
 */
import { randomBytes } from 'node:crypto';
import type {
  ApprovalDecision,
  ApprovalOutcomeView,
  PendingApprovalView,
} from '../../shared/api.js';
import {
  AgentClosedError,
  ApprovalBusyError,
  ApprovalDeniedError,
  ApprovalTimeoutError,
  InvalidInputError,
} from '../errors.js';
import type { AdmittedRequest, AgentConnection, RequestHooks } from '../proxy/request-hooks.js';
import type { ApprovalPair, ApprovalPolicy } from './approval-policy.js';

export const DEFAULT_APPROVAL_TIMEOUT_MS = 120_000;
export const DEFAULT_ALLOW_MS = 8 * 60 * 60 * 1000;
/** The longest "Allow for": a week. Longer than that is what "Always" is for. */
export const MAX_ALLOW_MS = 7 * 24 * 60 * 60 * 1000;
const DENIAL_MEMORY_MS = 30_000;
const MAX_HELD_PER_AGENT = 32;
const MAX_HELD_TOTAL = 256;
/** A path is shown, not kept whole: the bound on held memory must not depend on the agent. */
const MAX_PATH_CHARS = 256;

export interface ApprovalQueueOptions {
  readonly policy: ApprovalPolicy;
  readonly timeoutMs?: number;
  readonly denialMemoryMs?: number;
  readonly maxHeldPerAgent?: number;
  readonly maxHeldTotal?: number;
  /** Milliseconds since the epoch; tests move it. */
  readonly now?: () => number;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

interface Pending {
  readonly view: Omit<PendingApprovalView, 'waiting'>;
  readonly pair: ApprovalPair;
  /** ApprovalPolicy.identity of the agent that asked. */
  readonly identity: string | undefined;
  readonly waiters: Set<Waiter>;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** One pair of one agent: `identity` tells an agent from a later one of the same name. */
function keyOf({ agent, mapping, host }: ApprovalPair, identity: string | undefined): string {
  return JSON.stringify([agent, identity ?? '', mapping, host]);
}

function describe({ agent, mapping, host }: ApprovalPair): string {
  return `agent "${agent}" on ${mapping} (${host})`;
}

export class ApprovalQueue {
  readonly #policy: ApprovalPolicy;
  readonly #timeoutMs: number;
  readonly #denialMemoryMs: number;
  readonly #maxPerAgent: number;
  readonly #maxTotal: number;
  readonly #now: () => number;
  /** By pair key. */
  readonly #pending = new Map<string, Pending>();
  /** By id, for decide(). */
  readonly #byId = new Map<string, string>();
  /** Pair key → when an "Allow for" ends. */
  readonly #allowed = new Map<string, number>();
  /** Pair key → when a denial is forgotten. */
  readonly #denied = new Map<string, number>();
  readonly #listeners = new Set<() => void>();
  #held = 0;
  readonly #heldByAgent = new Map<string, number>();

  constructor(options: ApprovalQueueOptions) {
    this.#policy = options.policy;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    this.#denialMemoryMs = options.denialMemoryMs ?? DENIAL_MEMORY_MS;
    this.#maxPerAgent = options.maxHeldPerAgent ?? MAX_HELD_PER_AGENT;
    this.#maxTotal = options.maxHeldTotal ?? MAX_HELD_TOTAL;
    this.#now = options.now ?? Date.now;
  }

  /**
   * For the proxy's `hooks` option, composed after the budgets' (docs/agents.md, Approvals).
   * Decides at once (no promise) for an agent that does not ask or a pair already answered, so
   * the request path pays nothing for agents that never ask; a refusal may then be a throw.
   */
  readonly hooks: RequestHooks = {
    beforeSecret: (request, connection) => this.check(request, connection),
  };

  /** Resolves when the request may go on; rejects with a named Keygate error when it may not. */
  check(request: AdmittedRequest, connection: AgentConnection): Promise<void> | void {
    const pair: ApprovalPair = {
      agent: request.agent,
      mapping: request.mapping,
      host: request.host,
    };
    if (!this.#policy.asks(pair.agent)) return;
    const identity = this.#policy.identity(pair.agent);
    const key = keyOf(pair, identity);
    const now = this.#now();
    const allowedUntil = this.#allowed.get(key);
    if (allowedUntil !== undefined) {
      if (allowedUntil > now) return;
      this.#allowed.delete(key);
    }
    if (this.#policy.hasStoredGrant(pair)) return;
    const deniedUntil = this.#denied.get(key);
    if (deniedUntil !== undefined) {
      if (deniedUntil > now) {
        throw new ApprovalDeniedError(
          `the user denied ${describe(pair)}; asking again in ${Math.ceil((deniedUntil - now) / 1000)} s`,
        );
      }
      this.#denied.delete(key);
    }
    // Only now, when the request may be held, is the signal made (request-hooks.ts).
    const signal = connection.signal;
    if (signal.aborted) throw new AgentClosedError('the agent left before approval was asked');
    return this.#hold(key, pair, identity, request, signal);
  }

  #hold(
    key: string,
    pair: ApprovalPair,
    identity: string | undefined,
    request: AdmittedRequest,
    signal: AbortSignal,
  ) {
    const agentHeld = this.#heldByAgent.get(pair.agent) ?? 0;
    if (agentHeld >= this.#maxPerAgent || this.#held >= this.#maxTotal) {
      throw new ApprovalBusyError(
        `${agentHeld >= this.#maxPerAgent ? `agent "${pair.agent}" has` : 'Keygate has'} too many requests waiting for approval; answer them (keygate approvals) and retry`,
      );
    }
    const entry = this.#pending.get(key) ?? this.#open(key, pair, identity, request);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        leave();
        reject(new AgentClosedError('the agent closed its connection while waiting for approval'));
        if (entry.waiters.size === 0) this.#close(key, entry);
      };
      const leave = () => {
        signal.removeEventListener('abort', onAbort);
        if (entry.waiters.delete(waiter)) this.#count(pair.agent, -1);
      };
      const waiter: Waiter = {
        resolve: () => {
          leave();
          resolve();
        },
        reject: (err) => {
          leave();
          reject(err);
        },
      };
      entry.waiters.add(waiter);
      this.#count(pair.agent, +1);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#changed();
    });
  }

  #open(
    key: string,
    pair: ApprovalPair,
    identity: string | undefined,
    request: AdmittedRequest,
  ): Pending {
    let id: string;
    do id = randomBytes(4).toString('hex');
    while (this.#byId.has(id));
    const since = this.#now();
    const timer = setTimeout(() => {
      const pending = this.#pending.get(key);
      if (pending?.view.id !== id) return;
      this.#close(key, pending);
      const err = new ApprovalTimeoutError(
        `nobody answered the approval for ${describe(pair)} within ${Math.round(this.#timeoutMs / 1000)} s`,
      );
      for (const waiter of [...pending.waiters]) waiter.reject(err);
    }, this.#timeoutMs);
    timer.unref();
    const pending: Pending = {
      pair,
      identity,
      waiters: new Set(),
      timer,
      view: {
        id,
        agent: pair.agent,
        mapping: pair.mapping,
        ...(request.preset ? { preset: request.preset } : {}),
        host: pair.host,
        port: request.port,
        method: request.method,
        path: request.path.split('?')[0]!.slice(0, MAX_PATH_CHARS),
        since: new Date(since).toISOString(),
        expiresAt: new Date(since + this.#timeoutMs).toISOString(),
      },
    };
    this.#pending.set(key, pending);
    this.#byId.set(id, key);
    return pending;
  }

  #close(key: string, pending: Pending): void {
    clearTimeout(pending.timer);
    if (this.#pending.get(key) === pending) this.#pending.delete(key);
    this.#byId.delete(pending.view.id);
    this.#changed();
  }

  #count(agent: string, delta: number): void {
    this.#held += delta;
    const next = (this.#heldByAgent.get(agent) ?? 0) + delta;
    if (next > 0) this.#heldByAgent.set(agent, next);
    else this.#heldByAgent.delete(agent);
  }

  /** Pending approvals, oldest first. */
  list(): PendingApprovalView[] {
    return [...this.#pending.values()].map((p) => ({ ...p.view, waiting: p.waiters.size }));
  }

  /** Requests held now (all pending approvals' waiters). */
  get held(): number {
    return this.#held;
  }

  /** The user's answer. `forMs` only with `allow` (default 8 hours, at most a week). */
  decide(id: string, decision: ApprovalDecision, forMs?: number): ApprovalOutcomeView {
    if (forMs !== undefined && decision !== 'allow')
      throw new InvalidInputError('a duration goes only with allow (not always or deny)');
    const allowMs = forMs ?? DEFAULT_ALLOW_MS;
    if (!Number.isInteger(allowMs) || allowMs < 1000 || allowMs > MAX_ALLOW_MS)
      throw new InvalidInputError('allow for 1 second to 7 days (or answer always)');
    const key = this.#byId.get(id);
    const pending = key === undefined ? undefined : this.#pending.get(key);
    if (key === undefined || !pending)
      throw new InvalidInputError(
        `no pending approval "${id.slice(0, 40)}" (answered, timed out, or its agent left; keygate approvals)`,
      );
    const { pair } = pending;
    const outcome: ApprovalOutcomeView = { id, ...pair, decision };
    if (this.#policy.identity(pair.agent) !== pending.identity) {
      // Removed (and perhaps added again) since it asked: nothing is granted to a newcomer.
      this.#refuseRemoved(key, pending);
      throw new InvalidInputError(`agent "${pair.agent}" no longer exists; nothing was granted`);
    }
    if (decision === 'deny') {
      this.#denied.set(key, this.#now() + this.#denialMemoryMs);
      this.#close(key, pending);
      const err = new ApprovalDeniedError(`the user denied ${describe(pair)}`);
      for (const waiter of [...pending.waiters]) waiter.reject(err);
      return outcome;
    }
    if (decision === 'always') {
      // Stored before anything is let through: if the settings cannot be written, the user
      // learns it now, and the request is still held for another answer.
      if (!this.#policy.storeGrant(pair)) {
        this.#refuseRemoved(key, pending);
        throw new InvalidInputError(`agent "${pair.agent}" no longer exists; nothing was granted`);
      }
    } else {
      const until = this.#now() + allowMs;
      this.#allowed.set(key, until);
      outcome.until = new Date(until).toISOString();
    }
    this.#denied.delete(key);
    this.#close(key, pending);
    for (const waiter of [...pending.waiters]) waiter.resolve();
    return outcome;
  }

  /** Called after the list changed (the app's tray and notifications). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /**
   * The settings changed: a held request whose agent no longer asks, or now has a stored grant
   * for the pair, goes on; one whose agent was removed is refused. Without this, switching
   * "Asks" off would leave requests held until they time out.
   */
  reconsider(): void {
    for (const [key, pending] of [...this.#pending]) {
      const { pair } = pending;
      if (this.#policy.identity(pair.agent) !== pending.identity) {
        this.#refuseRemoved(key, pending);
        continue;
      }
      if (this.#policy.asks(pair.agent) && !this.#policy.hasStoredGrant(pair)) continue;
      this.#close(key, pending);
      for (const waiter of [...pending.waiters]) waiter.resolve();
    }
    // What removed agents were allowed or denied for a while goes with them (their keys name
    // an identity no agent has any more, so nothing would match them again).
    for (const answers of [this.#allowed, this.#denied])
      for (const key of [...answers.keys()]) {
        const [agent, identity] = JSON.parse(key) as [string, string];
        if ((this.#policy.identity(agent) ?? '') !== identity) answers.delete(key);
      }
  }

  #refuseRemoved(key: string, pending: Pending): void {
    this.#close(key, pending);
    const err = new ApprovalDeniedError(
      `agent "${pending.pair.agent}" was removed while it waited`,
    );
    for (const waiter of [...pending.waiters]) waiter.reject(err);
  }

  /** Refuses everything still held (the engine stops). */
  close(): void {
    for (const [key, pending] of [...this.#pending]) {
      this.#close(key, pending);
      const err = new ApprovalTimeoutError('Keygate stopped before the approval was answered');
      for (const waiter of [...pending.waiters]) waiter.reject(err);
    }
  }
}
