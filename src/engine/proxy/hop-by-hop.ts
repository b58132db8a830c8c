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

/** The Connection values that name no header; nearly every message carries one of these alone. */
const CONNECTION_OPTIONS = new Set(['close', 'keep-alive', 'upgrade']);

function namedByConnection(connection: string | string[] | undefined): Set<string> | undefined {
  if (!connection) return undefined;
  // Nearly every message: one option, nothing to drop, nothing to allocate.
  if (typeof connection === 'string' && CONNECTION_OPTIONS.has(connection.toLowerCase()))
    return undefined;
  const value = Array.isArray(connection) ? connection.join(',') : connection;
  const names = value
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name && !CONNECTION_OPTIONS.has(name));
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
  // list fields are one list), so the names are gathered from all of them, not the last. One
  // pass: what they name is taken out at the end.
  let connection: string | undefined;
  const out: OutgoingHttpHeaders = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const value = rawHeaders[i + 1];
    if (name === undefined || value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection')
        connection = connection === undefined ? value : `${connection},${value}`;
      continue;
    }
    const existing = out[lower];
    if (existing === undefined) out[lower] = value;
    else out[lower] = Array.isArray(existing) ? [...existing, value] : [String(existing), value];
  }
  const extra = namedByConnection(connection);
  if (extra) for (const name of extra) delete out[name];
  return out;
}
