/**
 * `--max-requests N/h` and `--max-tokens N/d` of `keygate agent add/set` (docs/agents.md, "Usage
 * and budgets"): a whole number, optionally with k or M (`2M/d`), and the window's unit; `none`
 * clears the limit (`agent set` only). The range is the settings schema's, checked by the
 * controller (budget-input.ts).
 */
import { InvalidArgumentError } from 'commander';
import type { AgentBudgetInput } from '../../shared/api.js';
import type { AgentBudget, BudgetLimits } from '../../shared/settings-schema.js';
import { InvalidInputError } from '../../engine/errors.js';

const MULTIPLIERS: Readonly<Record<string, number>> = { '': 1, k: 1_000, m: 1_000_000 };

function limitParser(unit: 'h' | 'd', example: string): (value: string) => number | 'none' {
  const pattern = new RegExp(`^(\\d{1,16})([kKmM]?)(?:/${unit})?$`);
  return (value) => {
    const text = value.trim();
    // Not null: commander keeps the raw text when a parser returns null.
    if (text === 'none') return 'none';
    const match = pattern.exec(text);
    const limit = match ? Number(match[1]) * MULTIPLIERS[match[2]!.toLowerCase()]! : NaN;
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new InvalidArgumentError(`expected a limit like ${example}, or none`);
    return limit;
  };
}

export const parseMaxRequests = limitParser('h', '100/h');
export const parseMaxTokens = limitParser('d', '200000/d or 2M/d');

export interface BudgetOptions {
  maxRequests?: number | 'none';
  maxTokens?: number | 'none';
  /** The limits given are this mapping's own. */
  mapping?: string;
}

const limitOf = (value: number | 'none') => (value === 'none' ? null : value);

/** The contract's budget fields for the options given. */
export function budgetInput(options: BudgetOptions): AgentBudgetInput {
  if (
    options.mapping !== undefined &&
    options.maxRequests === undefined &&
    options.maxTokens === undefined
  )
    throw new InvalidInputError('--mapping needs --max-requests or --max-tokens');
  return {
    ...(options.mapping !== undefined ? { mapping: options.mapping } : {}),
    ...(options.maxRequests !== undefined
      ? { maxRequestsPerHour: limitOf(options.maxRequests) }
      : {}),
    ...(options.maxTokens !== undefined ? { maxTokensPerDay: limitOf(options.maxTokens) } : {}),
  };
}

function limitsText(limits: BudgetLimits): string[] {
  return [
    ...(limits.maxRequestsPerHour ? [`${limits.maxRequestsPerHour} requests/h`] : []),
    ...(limits.maxTokensPerDay ? [`${limits.maxTokensPerDay} tokens/d`] : []),
  ];
}

/** "100 requests/h, 2000000 tokens/d; api.openai.com: 5 requests/h", or "no budget". */
export function describeBudget(budget: AgentBudget | undefined): string {
  const own = limitsText(budget ?? {});
  const perMapping = Object.entries(budget?.mappings ?? {}).map(
    ([name, limits]) => `${name}: ${limitsText(limits).join(', ')}`,
  );
  const parts = [...(own.length > 0 ? [own.join(', ')] : []), ...perMapping];
  return parts.length > 0 ? parts.join('; ') : 'no budget';
}
