/**
 * The one rule for IPv6 literals in brackets. A URI or an authority writes `[::1]` (RFC 3986
 * §3.2.2: the colons of an IPv6 address would otherwise read as a port); a socket dials, SNI
 * names and a certificate holds `::1` (RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not
 * permitted" in SNI, and Node's `net.connect` takes the bare form). Keygate keeps hosts bare
 * inside and brackets them only where it writes a URL, a Host header or a name for people.
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
