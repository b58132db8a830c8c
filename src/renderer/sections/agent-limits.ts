/**
 * An agent's own limits in the Agents table: requests per hour and tokens per day, the same
 * budget as `keygate agent set NAME --max-requests N/h --max-tokens N/d` (docs/agents.md, "Usage
 * and budgets"). Empty means no limit. Per-mapping limits stay a CLI matter; the cell says how
 * many there are so none is hidden.
 */
import type { AgentBudgetInput, AgentView } from '../../shared/api.js';
import { h } from '../dom.js';
import { parseLimit } from '../format.js';

type LimitField = 'maxRequestsPerHour' | 'maxTokensPerDay';

export function limitsCell(
  agent: AgentView,
  save: (input: Pick<AgentBudgetInput, LimitField>) => Promise<void>,
  onError: (err: unknown) => void,
): HTMLElement {
  const field = (name: LimitField, unit: string, label: string): HTMLElement => {
    const current = agent.budget?.[name];
    const input = h('input', {
      type: 'text',
      inputmode: 'numeric',
      class: 'limit-input',
      value: current === undefined ? '' : String(current),
      placeholder: 'no limit',
      'aria-label': `${label} for ${agent.name}`,
      'data-limit': name,
    });
    input.addEventListener('change', () => {
      const parsed = parseLimit(input.value);
      const restore = () => (input.value = current === undefined ? '' : String(current));
      if (typeof parsed === 'object' && parsed !== null) {
        restore();
        onError(new Error(`${agent.name}: ${parsed.error}`));
        return;
      }
      input.disabled = true;
      save(
        name === 'maxRequestsPerHour'
          ? { maxRequestsPerHour: parsed }
          : { maxTokensPerDay: parsed },
      )
        .catch((err: unknown) => {
          restore();
          onError(err);
        })
        .finally(() => (input.disabled = false));
    });
    return h('label', { class: 'limit' }, input, h('span', { class: 'hint' }, unit));
  };
  const perMapping = Object.keys(agent.budget?.mappings ?? {}).length;
  return h(
    'div',
    { class: 'limits' },
    field('maxRequestsPerHour', 'req/h', 'Requests per hour'),
    field('maxTokensPerDay', 'tokens/day', 'Tokens per day'),
    perMapping > 0
      ? h(
          'span',
          { class: 'hint', 'data-per-mapping': String(perMapping) },
          `+ ${perMapping} per-mapping (CLI)`,
        )
      : undefined,
  );
}
