/**
 * 429 `keygate_budget_exceeded`: the agent used up a budget (`agent add/set --max-requests N/h
 * --max-tokens N/d`). `Retry-After` (RFC 9110 §10.2.3) says when the window frees, in seconds;
 * both official SDKs honour it. Sent before any secret is resolved.
 */
import { defineError, KeygateError } from '../errors.js';

export type BudgetKind = 'requests' | 'tokens';

export interface BudgetHit {
  readonly agent: string;
  /** Set when the limit is one mapping's, not the agent's own. */
  readonly mapping?: string;
  readonly kind: BudgetKind;
  readonly limit: number;
  readonly used: number;
  readonly retryAfterSeconds: number;
}

export function describeHit(hit: BudgetHit): string {
  const scope = hit.mapping ? `agent "${hit.agent}" on ${hit.mapping}` : `agent "${hit.agent}"`;
  return hit.kind === 'requests'
    ? `${scope} made ${hit.used} of its ${hit.limit} requests per hour`
    : `${scope} used ${hit.used} of its ${hit.limit} tokens today`;
}

export class BudgetExceededError extends defineError(
  'BudgetExceededError',
  {
    status: 429,
    code: 'budget_exceeded',
    // Retryable once the window frees, which `Retry-After` says.
    traits: { summary: () => 'budget exceeded', retryable: true },
  },
  KeygateError,
) {
  constructor(readonly hit: BudgetHit) {
    super(`budget exceeded: ${describeHit(hit)}; retry in ${hit.retryAfterSeconds} s`, {
      retryAfterMs: hit.retryAfterSeconds * 1000,
    });
  }
}
