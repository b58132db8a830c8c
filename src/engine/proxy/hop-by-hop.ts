/**
 * Hop-by-hop headers belong to one connection and must not be forwarded (RFC 9110 §7.6.1), plus
 * any header the `Connection` header names. `proxy-*` headers are for Keygate alone: the agent
 * token in Proxy-Authorization must never reach an upstream.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function namedByConnection(connection: string | string[] | undefined): Set<string> | undefined {
  if (!connection) return undefined;
  const value = Array.isArray(connection) ? connection.join(',') : connection;
  const names = value
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade');
  return names.length ? new Set(names) : undefined;
}

/** Request headers to send upstream (lower-case keys, as Node parsed them). */
export function forwardableRequestHeaders(
  headers: IncomingHttpHeaders,
): Record<string, string | string[] | undefined> {
  const extra = namedByConnection(headers.connection);
  const out: Record<string, string | string[] | undefined> = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || name.startsWith('proxy-') || extra?.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/** Response headers to send back to the agent, from the upstream's raw header list. */
export function forwardableResponseHeaders(rawHeaders: readonly string[]): OutgoingHttpHeaders {
  // A response may carry several Connection fields; every one counts (RFC 9110 §5.3: repeated
  // list fields are one list), so the names are gathered from all of them, not the last.
  let connection: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === 'connection') {
      const value = rawHeaders[i + 1] ?? '';
      connection = connection === undefined ? value : `${connection},${value}`;
    }
  }
  const extra = namedByConnection(connection);
  const out: OutgoingHttpHeaders = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const value = rawHeaders[i + 1];
    if (name === undefined || value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || extra?.has(lower)) continue;
    const existing = out[lower];
    if (existing === undefined) out[lower] = value;
    else out[lower] = Array.isArray(existing) ? [...existing, value] : [String(existing), value];
  }
  return out;
}
