/**
 * How a host is written in an authority, each rule in one place. A URI or an authority writes
 * `[::1]` (RFC 3986 §3.2.2: the colons of an IPv6 address would otherwise read as a port); a
 * socket dials, SNI names and a certificate holds `::1` (RFC 6066 §3: "Literal IPv4 and IPv6
 * addresses are not permitted" in SNI, and Node's `net.connect` takes the bare form). Keygate
 * keeps hosts bare inside and brackets them only where it writes a URL, a Host header or a name
 * for people; and it cuts an authority at its port only in splitAuthority.
 */

/** `::1` → `[::1]`; a name or an IPv4 address as it is. Any colon means IPv6: names have none. */
export function uriHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** `[::1]` → `::1`; anything else, a half-bracketed text included, as it is. */
export function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `host` or `host:port` for a URI's authority; the scheme's default port is left out (§3.2.3). */
export function authorityText(host: string, port: number, defaultPort: number): string {
  const name = uriHost(host);
  return port === defaultPort ? name : `${name}:${port}`;
}

/**
 * An authority cut into its host and port texts, neither validated yet; or, when its brackets
 * are malformed, why. One shape for every answer, so the proxy's call per request stays
 * monomorphic.
 */
export interface AuthorityParts {
  readonly host: string;
  readonly port: string | undefined;
  readonly problem: BracketProblem | undefined;
}

export interface BracketProblem {
  readonly kind: 'unclosed-bracket' | 'after-bracket';
  /** The text from where it went wrong. */
  readonly text: string;
}

/**
 * The one place an authority is cut at its port (RFC 3986 §3.2.2, §3.2.3): `host`, `host:port`,
 * `[v6]`, `[v6]:port`. The host keeps its brackets. Text with several colons and no brackets
 * can only be a bare IPv6 address, so it is all host; whether to accept that, and what a host or
 * port may hold, is each caller's rule (the proxy refuses it, the CLI takes it).
 */
export function splitAuthority(input: string): AuthorityParts {
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close === -1) return malformed('unclosed-bracket', input);
    if (close === input.length - 1) return { host: input, port: undefined, problem: undefined };
    const rest = input.slice(close + 1);
    if (!rest.startsWith(':')) return malformed('after-bracket', rest);
    return { host: input.slice(0, close + 1), port: rest.slice(1), problem: undefined };
  }
  const colon = input.indexOf(':');
  if (colon === -1 || input.indexOf(':', colon + 1) !== -1) {
    return { host: input, port: undefined, problem: undefined };
  }
  return { host: input.slice(0, colon), port: input.slice(colon + 1), problem: undefined };
}

function malformed(kind: BracketProblem['kind'], text: string): AuthorityParts {
  return { host: '', port: undefined, problem: { kind, text } };
}
