/**
 * The contract's agent operations (`agents.list`, `.add`, `.set`, `.remove`): edits of the
 * settings file's agents, each in one locked update. A running engine follows the file, so a
 * removed agent's token stops working on its open connections too (docs/security.md).
 */
import type { AgentBudgetInput, AgentView, ApiHandlers } from '../shared/api.js';
import type { Agent, Mapping } from '../shared/settings-schema.js';
import { applyBudgetInput, budgetView, hasBudgetInput } from './budgets/budget-input.js';
import { InvalidInputError } from './errors.js';
import { CompiledMapping } from './rules/compiled-mapping.js';
import { newAgent, validateAgentName } from './settings/agents.js';
import type { SettingsStore } from './settings/settings-store.js';

export type AgentHandlers = Pick<
  ApiHandlers,
  'agents.list' | 'agents.add' | 'agents.set' | 'agents.remove'
>;

/** What the contract shows of an agent: never its token (that is only in `agents.add`'s answer). */
export function agentView(agent: Agent): AgentView {
  return {
    name: agent.name,
    ...(agent.hosts ? { hosts: [...agent.hosts] } : {}),
    ...(agent.ask ? { ask: true } : {}),
    ...(agent.budget ? { budget: budgetView(agent.budget) } : {}),
    createdAt: agent.createdAt,
  };
}

/** The names a per-mapping budget may name (`keygate map list`). */
const mappingNames = (mappings: readonly Mapping[]) =>
  mappings.map((m) => new CompiledMapping(m).name);

export function agentHandlers(store: SettingsStore): AgentHandlers {
  return {
    'agents.list': async () => store.get().agents.map(agentView),
    'agents.add': async ({ name, hosts, ask, ...budget }) =>
      addAgent(store, name, hosts, ask, budget),
    'agents.set': async ({ name, ask, ...budget }) => setAgent(store, name, ask, budget),
    'agents.remove': async ({ name }) => removeAgent(store, name),
  };
}

function addAgent(
  store: SettingsStore,
  name: string,
  hosts: readonly string[] | undefined,
  ask: boolean | undefined,
  budget: AgentBudgetInput,
): { agent: AgentView; token: string } {
  const agent = { ...newAgent(name, hosts), ...(ask ? { ask: true } : {}) };
  applyBudgetInput(agent, budget, mappingNames(store.get().mappings));
  store.update((draft) => {
    if (draft.agents.some((a) => a.name === name)) {
      throw new InvalidInputError(
        `agent "${name}" already exists (keygate agent rm ${name} first)`,
      );
    }
    draft.agents.push(agent);
  });
  return { agent: agentView(agent), token: agent.token };
}

function setAgent(
  store: SettingsStore,
  name: string,
  ask: boolean | undefined,
  budget: AgentBudgetInput,
): AgentView {
  validateAgentName(name);
  let found: Agent | undefined;
  store.update((draft) => {
    const agent = draft.agents.find((a) => a.name === name);
    if (!agent) throw new InvalidInputError(`no agent named "${name}" (keygate agent list)`);
    if (ask === true) agent.ask = true;
    // Turning asking off keeps the "Always" grants, so turning it on again asks only anew.
    else if (ask === false) delete agent.ask;
    if (hasBudgetInput(budget)) applyBudgetInput(agent, budget, mappingNames(draft.mappings));
    found = agent;
  });
  return agentView(found!);
}

function removeAgent(store: SettingsStore, name: string): { removed: boolean } {
  validateAgentName(name);
  let removed = false;
  store.update((draft) => {
    const kept = draft.agents.filter((a) => a.name !== name);
    removed = kept.length !== draft.agents.length;
    draft.agents = kept;
  });
  return { removed };
}
