/**
 * What the approval queue reads and writes in the settings: whether an agent asks (`ask`), and
 * its "Always" answers (`grants`, one per agent × mapping × host). Kept in the agent's own
 * entry, so revoking the agent revokes its grants too.
 */
import type { SettingsStore } from '../settings/settings-store.js';

/** One agent × mapping × host: what an approval names, exactly (docs/agents.md, Approvals). */
export interface ApprovalPair {
  readonly agent: string;
  /** `CompiledMapping.name`. */
  readonly mapping: string;
  /** The exact host the request goes to (a wildcard mapping asks once per host). */
  readonly host: string;
}

export interface ApprovalPolicy {
  /**
   * Which agent of that name there is now (its `createdAt`), or undefined when none. An agent
   * removed and added again under the same name is another agent: what the first was allowed
   * or denied is not the second's.
   */
  identity(agent: string): string | undefined;
  asks(agent: string): boolean;
  hasStoredGrant(pair: ApprovalPair): boolean;
  /** Stores an "Always" answer; false when the agent is gone (nothing to store it in). */
  storeGrant(pair: ApprovalPair): boolean;
}

export function settingsApprovalPolicy(store: SettingsStore): ApprovalPolicy {
  const agentNamed = (name: string) => store.get().agents.find((agent) => agent.name === name);
  return {
    identity: (agent) => agentNamed(agent)?.createdAt,
    asks: (agent) => agentNamed(agent)?.ask === true,
    hasStoredGrant: ({ agent, mapping, host }) =>
      agentNamed(agent)?.grants?.some((g) => g.mapping === mapping && g.host === host) === true,
    storeGrant: ({ agent, mapping, host }) => {
      let stored = false;
      store.update((draft) => {
        const entry = draft.agents.find((a) => a.name === agent);
        if (!entry) return;
        stored = true;
        const grants = entry.grants ?? [];
        if (grants.some((g) => g.mapping === mapping && g.host === host)) return;
        entry.grants = [...grants, { mapping, host, at: new Date().toISOString() }];
      });
      return stored;
    },
  };
}
