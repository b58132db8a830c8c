/**
 * Budgets as a request hook: before a mapping's secret is resolved, the agent's limits (and the
 * mapping's, when it has its own) are checked; over one, the request is refused with
 * BudgetExceededError (429, Retry-After) and nothing is resolved or sent.
 *
 * - Requests per sliding hour: counted here, in memory, when a request is let through (so a
 *   restart forgets the hour); the request that would be number N+1 in any hour is refused.
 * - Tokens per local day: what the upstream reported (UsageStore, which survives restarts).
 *   Tokens are known only once an answer ends, so the answer that crosses the limit is not cut;
 *   the next request is refused until local midnight.
 *
 * On a WebSocket the upgrade and every message the agent sends count as requests: one upgrade
 * can carry any number of model calls, pipelined, or on a socket whose usage Keygate cannot read
 * (Realtime), so only a count per message keeps the request budget a hard cap. A message over
 * either budget closes the socket (`beforeWebSocketMessage`).
 *
 * Budgets are read from the settings on every request, so `keygate agent set` applies at once.
 */
import type { Agent, BudgetLimits } from '../../shared/settings-schema.js';
import type { AdmittedRequest, RequestHooks } from '../proxy/request-hooks.js';
import { localDay, type UsageStore } from '../usage/usage-store.js';
import { BudgetExceededError, type BudgetHit } from './budget-exceeded-error.js';
import { RequestWindow } from './request-window.js';

export interface BudgetHooksOptions {
  /** The agents as the settings say now. */
  readonly agents: () => readonly Agent[];
  readonly usage: UsageStore;
  readonly now?: () => number;
}

/** Seconds from `now` to the next local midnight (at least 1). */
export function secondsToLocalMidnight(now: number): number {
  const next = new Date(now);
  next.setHours(24, 0, 0, 0);
  return Math.max(1, Math.ceil((next.getTime() - now) / 1000));
}

interface Scope {
  readonly mapping: string | undefined;
  readonly limits: BudgetLimits;
}

export class BudgetHooks implements RequestHooks {
  readonly #agents: () => readonly Agent[];
  readonly #usage: UsageStore;
  readonly #now: () => number;
  readonly #windows = new Map<string, RequestWindow>();

  constructor(options: BudgetHooksOptions) {
    this.#agents = options.agents;
    this.#usage = options.usage;
    this.#now = options.now ?? Date.now;
  }

  beforeSecret(request: AdmittedRequest): void {
    const agent = this.#agents().find((a) => a.name === request.agent);
    if (!agent?.budget) return;
    const now = this.#now();
    const scopes = this.#scopes(agent, request.mapping);
    for (const scope of scopes) {
      const hit = this.#check(agent.name, scope, now);
      if (hit) throw new BudgetExceededError(hit);
    }
    for (const scope of scopes) {
      const limit = scope.limits.maxRequestsPerHour;
      if (limit !== undefined) this.#window(agent.name, scope.mapping).add(now, limit);
    }
  }

  /** Each message the agent sends on an open WebSocket is a request, as its upgrade was. */
  beforeWebSocketMessage(request: AdmittedRequest): void {
    this.beforeSecret(request);
  }

  /** Every budget that refuses requests right now (for status and the menu). */
  hits(): BudgetHit[] {
    const now = this.#now();
    const hits: BudgetHit[] = [];
    for (const agent of this.#agents()) {
      if (!agent.budget) continue;
      const mappings = Object.keys(agent.budget.mappings ?? {});
      for (const scope of [
        { mapping: undefined, limits: agent.budget },
        ...mappings.map((m) => ({ mapping: m, limits: agent.budget!.mappings![m]! })),
      ]) {
        const hit = this.#check(agent.name, scope, now);
        if (hit) hits.push(hit);
      }
    }
    return hits;
  }

  #scopes(agent: Agent, mapping: string): Scope[] {
    const budget = agent.budget!;
    const scopes: Scope[] = [{ mapping: undefined, limits: budget }];
    const own = budget.mappings?.[mapping];
    if (own) scopes.push({ mapping, limits: own });
    return scopes;
  }

  #check(agent: string, scope: Scope, now: number): BudgetHit | undefined {
    const mapping = scope.mapping;
    const maxRequests = scope.limits.maxRequestsPerHour;
    if (maxRequests !== undefined) {
      const window = this.#windows.get(windowKey(agent, scope.mapping));
      const wait = window?.waitSeconds(now, maxRequests) ?? 0;
      if (wait > 0)
        return {
          agent,
          mapping,
          kind: 'requests',
          limit: maxRequests,
          used: window!.used(now),
          retryAfterSeconds: wait,
        };
    }
    return this.#tokenHit(agent, scope, now);
  }

  #tokenHit(agent: string, scope: Scope, now: number): BudgetHit | undefined {
    const maxTokens = scope.limits.maxTokensPerDay;
    if (maxTokens === undefined) return undefined;
    const used = this.#usage.tokensOn(localDay(now), agent, scope.mapping);
    if (used < maxTokens) return undefined;
    return {
      agent,
      mapping: scope.mapping,
      kind: 'tokens',
      limit: maxTokens,
      used,
      retryAfterSeconds: secondsToLocalMidnight(now),
    };
  }

  #window(agent: string, mapping: string | undefined): RequestWindow {
    const key = windowKey(agent, mapping);
    let window = this.#windows.get(key);
    if (!window) {
      window = new RequestWindow();
      this.#windows.set(key, window);
    }
    return window;
  }
}

function windowKey(agent: string, mapping: string | undefined): string {
  return mapping === undefined ? agent : `${agent}\u0000${mapping}`;
}
