/**
 * An agent's own budget as the contract sets it (`agents.add`, `agents.set`; the CLI's
 * `--max-requests N/h`, `--max-tokens N/d`, `none` to clear): validated with the settings'
 * own limits, then written into the stored agent. Per-mapping limits (`budget.mappings`) are
 * kept as they are. docs/agents.md, "Usage and budgets".
 */
import { z } from 'zod';
import type { AgentBudgetInput, BudgetHitView } from '../../shared/api.js';
import { budgetLimitsSchema, type Agent } from '../../shared/settings-schema.js';
import { InvalidInputError } from '../errors.js';
import { describeHit, type BudgetHit } from './budget-exceeded-error.js';

const limits = budgetLimitsSchema.shape;
const inputSchema = z.object({
  maxRequestsPerHour: limits.maxRequestsPerHour.unwrap().nullable().optional(),
  maxTokensPerDay: limits.maxTokensPerDay.unwrap().nullable().optional(),
});

const FIELDS = ['maxRequestsPerHour', 'maxTokensPerDay'] as const;

/** Whether the request names any budget field. */
export function hasBudgetInput(input: AgentBudgetInput): boolean {
  return FIELDS.some((field) => input[field] !== undefined);
}

/** Sets (a number) or clears (null) each named limit of `agent`; an empty budget is removed. */
export function applyBudgetInput(agent: Agent, input: AgentBudgetInput): void {
  const parsed = inputSchema.safeParse({
    maxRequestsPerHour: input.maxRequestsPerHour,
    maxTokensPerDay: input.maxTokensPerDay,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(
      `${String(issue?.path[0] ?? 'budget')} must be a whole number from 1 (or none): ${issue?.message ?? 'invalid'}`,
    );
  }
  const budget = { ...agent.budget };
  for (const field of FIELDS) {
    const value = parsed.data[field];
    if (value === null) delete budget[field];
    else if (value !== undefined) budget[field] = value;
  }
  const empty =
    budget.maxRequestsPerHour === undefined &&
    budget.maxTokensPerDay === undefined &&
    Object.keys(budget.mappings ?? {}).length === 0;
  if (empty) delete agent.budget;
  else agent.budget = budget;
}

/** A budget hit for status and the menu: when it frees instead of seconds from now. */
export function budgetHitView(hit: BudgetHit, now: number): BudgetHitView {
  return {
    agent: hit.agent,
    ...(hit.mapping !== undefined ? { mapping: hit.mapping } : {}),
    kind: hit.kind,
    limit: hit.limit,
    used: hit.used,
    until: new Date(now + hit.retryAfterSeconds * 1000).toISOString(),
  };
}

/** "claude: 100 of 100 requests this hour" style, for the menu and `agent list`. */
export function describeBudgetHit(hit: BudgetHitView): string {
  return describeHit({ ...hit, retryAfterSeconds: 0 });
}
