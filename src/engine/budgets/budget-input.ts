/**
 * An agent's budget as the contract sets it (`agents.add`, `agents.set`; the CLI's
 * `--max-requests N/h`, `--max-tokens N/d`, `none` to clear, `--mapping NAME` for one mapping's
 * own limits): validated with the settings' own limits, then written into the stored agent; the
 * limits not named are kept. docs/agents.md, "Usage and budgets".
 */
import { z } from 'zod';
import type { AgentBudgetInput, BudgetHitView } from '../../shared/api.js';
import {
  budgetLimitsSchema,
  type Agent,
  type AgentBudget,
  type BudgetLimits,
} from '../../shared/settings-schema.js';
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

function setLimits(limits: BudgetLimits, values: z.infer<typeof inputSchema>): void {
  for (const field of FIELDS) {
    const value = values[field];
    if (value === null) delete limits[field];
    else if (value !== undefined) limits[field] = value;
  }
}

const isEmpty = (limits: BudgetLimits) =>
  limits.maxRequestsPerHour === undefined && limits.maxTokensPerDay === undefined;

/**
 * Sets (a number) or clears (null) each named limit of `agent`, its own or, with
 * `input.mapping`, that mapping's (one of `mappingNames`); empty budgets are removed.
 */
export function applyBudgetInput(
  agent: Agent,
  input: AgentBudgetInput,
  mappingNames: readonly string[],
): void {
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
  const budget: AgentBudget = structuredClone(agent.budget ?? {});
  const { mapping } = input;
  if (mapping === undefined) setLimits(budget, parsed.data);
  else {
    if (typeof mapping !== 'string' || !mappingNames.includes(mapping))
      throw new InvalidInputError(
        `no mapping named "${String(mapping)}" (keygate map list: ${mappingNames.join(', ') || 'none yet'})`,
      );
    const own = budget.mappings?.[mapping] ?? {};
    setLimits(own, parsed.data);
    const mappings = { ...budget.mappings, [mapping]: own };
    if (isEmpty(own)) delete mappings[mapping];
    if (Object.keys(mappings).length > 0) budget.mappings = mappings;
    else delete budget.mappings;
  }
  if (isEmpty(budget) && budget.mappings === undefined) delete agent.budget;
  else agent.budget = budget;
}

/** The budget as the contract shows it (a copy). */
export function budgetView(budget: AgentBudget): AgentBudget {
  return structuredClone(budget);
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
