/**
 * Who is talking to the proxy. Agents present `Proxy-Authorization: Basic base64(name:token)`
 * (RFC 7235 §4.4, RFC 7617); the token is the password, or the username when the password is
 * empty, because some clients only let users set one of the two.
 */
import { createHash } from 'node:crypto';
import type { Agent } from '../../shared/settings-schema.js';
import { HostMatcher } from '../rules/host-pattern.js';

export interface AuthenticatedAgent {
  readonly name: string;
  /**
   * A digest of the token the agent presented (not the token). Open connections are re-checked
   * by it, not by name: after `agent rm X; agent add X`, a connection opened with the old token
   * is refused (issue 9 §2).
   */
  readonly credential: string;
  /** True when the agent may use mappings for this host (`agent add --hosts`). */
  mayUseHost(host: string): boolean;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}

class DirectoryEntry implements AuthenticatedAgent {
  readonly #grants: readonly HostMatcher[] | undefined;

  constructor(
    readonly name: string,
    readonly credential: string,
    hosts: readonly string[] | undefined,
  ) {
    this.#grants = hosts?.map((pattern) => new HostMatcher(pattern));
  }

  mayUseHost(host: string): boolean {
    return this.#grants === undefined || this.#grants.some((grant) => grant.matches(host));
  }
}

export class AgentDirectory {
  // Keyed by a digest of the token, so lookups compare hashes, not secrets byte by byte.
  readonly #byTokenDigest = new Map<string, DirectoryEntry>();
  readonly #byName = new Map<string, DirectoryEntry>();

  constructor(agents: readonly Agent[]) {
    for (const agent of agents) {
      const credential = digest(agent.token);
      const entry = new DirectoryEntry(agent.name, credential, agent.hosts);
      this.#byTokenDigest.set(credential, entry);
      this.#byName.set(agent.name, entry);
    }
  }

  /** The agent as currently configured; undefined once revoked. */
  named(name: string): AuthenticatedAgent | undefined {
    return this.#byName.get(name);
  }

  /**
   * The agent as configured now, for one authenticated earlier (at CONNECT): undefined once its
   * token is revoked or replaced, even if an agent of the same name exists again.
   */
  current(agent: AuthenticatedAgent): AuthenticatedAgent | undefined {
    const entry = this.#byTokenDigest.get(agent.credential);
    return entry?.name === agent.name ? entry : undefined;
  }

  get size(): number {
    return this.#byTokenDigest.size;
  }

  /** The agent behind a Proxy-Authorization header, or undefined for a missing or bad one. */
  authenticate(header: string | undefined): AuthenticatedAgent | undefined {
    const token = tokenFromProxyAuthorization(header);
    return token === undefined ? undefined : this.#byTokenDigest.get(digest(token));
  }
}

// Bounded so a huge header costs nothing more than a length check.
const MAX_HEADER_LENGTH = 1024;

export function tokenFromProxyAuthorization(header: string | undefined): string | undefined {
  if (!header || header.length > MAX_HEADER_LENGTH) return undefined;
  const space = header.indexOf(' ');
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'basic') return undefined;
  const encoded = header.slice(space + 1).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return decoded || undefined;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  return password || user || undefined;
}
