/**
 * Agent identities in the settings file. Tokens are 256-bit random (base64url), stored in the
 * 0600 settings file so `keygate env` can print the proxy URL again later.
 */
import { randomBytes } from 'node:crypto';
import type { Agent } from '../../shared/settings-schema.js';
import { InvalidInputError } from '../errors.js';
import { HostMatcher } from '../rules/host-pattern.js';
import type { SettingsStore } from './settings-store.js';

export const DEFAULT_AGENT = 'default';
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function generateAgentToken(): string {
  return randomBytes(32).toString('base64url');
}

export function ensureDefaultAgent(store: SettingsStore): void {
  if (store.get().agents.some((agent) => agent.name === DEFAULT_AGENT)) return;
  store.update((draft) => {
    if (!draft.agents.some((agent) => agent.name === DEFAULT_AGENT)) {
      draft.agents.push({
        name: DEFAULT_AGENT,
        token: generateAgentToken(),
        createdAt: new Date().toISOString(),
      });
    }
  });
}

export function validateAgentName(name: string): void {
  if (!NAME.test(name)) {
    throw new InvalidInputError(
      `agent name "${name.slice(0, 80)}": use 1-64 letters, digits, dot, dash or underscore`,
    );
  }
}

/** Canonical host grants; throws InvalidInputError naming the bad pattern. */
export function normalizeGrants(hosts: readonly string[]): string[] {
  return hosts.map((host) => new HostMatcher(host.trim()).pattern);
}

export function newAgent(name: string, hosts?: readonly string[]): Agent {
  validateAgentName(name);
  return {
    name,
    token: generateAgentToken(),
    ...(hosts && hosts.length > 0 ? { hosts: normalizeGrants(hosts) } : {}),
    createdAt: new Date().toISOString(),
  };
}
