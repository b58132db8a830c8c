/**
 * Turning the name a client asked for (SNI, or the CONNECT target) into what a leaf
 * certificate may carry. The name comes from an untrusted agent, so it is validated here,
 * before it reaches a certificate or the cache.
 */
import { isIP } from 'node:net';
import { bareHost } from '../../shared/uri-host.js';
import { defineError } from '../errors.js';

export class ServerNameError extends defineError('ServerNameError', {
  status: 500,
  code: 'server_name',
}) {}

export interface ServerName {
  /** RFC 5280 §4.2.1.6: an IP literal must be an iPAddress SAN, never a dNSName. */
  readonly kind: 'dns' | 'ip';
  /** Canonical form: the SAN value and the cache key. */
  readonly value: string;
}

/** RFC 1035 §2.3.4: 253 characters as text, labels of 1 to 63. */
const MAX_DNS_NAME = 253;
/**
 * LDH labels, plus `_`: RFC 5280 §4.2.1.6 asks for the "preferred name syntax", but real
 * hosts use underscores and every TLS client we serve accepts them in a dNSName.
 */
const DNS_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Accepts `api.example.com`, `API.Example.com.`, `127.0.0.1`, `::1` and `[::1]`.
 * Rejects wildcards, zone ids (`fe80::1%en0`: not expressible in a certificate), and anything
 * that is neither a DNS name nor an IP literal.
 */
export function parseServerName(input: string): ServerName {
  // CONNECT targets and URLs bracket IPv6 literals (RFC 3986 §3.2.2); SNI never does.
  let name = bareHost(input);

  const family = isIP(name);
  if (family === 4) return { kind: 'ip', value: name };
  if (family === 6) {
    if (name.includes('%')) {
      throw new ServerNameError(
        `IPv6 zone ids cannot appear in a certificate: ${JSON.stringify(input)}`,
      );
    }
    return { kind: 'ip', value: canonicalIpv6(name) };
  }

  // DNS names are case-insensitive (RFC 4343), and the root dot is not part of the name.
  name = name.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (
    name.length === 0 ||
    name.length > MAX_DNS_NAME ||
    !name.split('.').every((l) => DNS_LABEL.test(l))
  ) {
    throw new ServerNameError(`not a valid host name: ${JSON.stringify(input.slice(0, 300))}`);
  }
  return { kind: 'dns', value: name };
}

/**
 * Lower-case hex with an embedded dotted IPv4 tail (`::ffff:1.2.3.4`) rewritten as two hex
 * groups: the certificate encoder's ipAddressBytes reads hex groups only.
 */
function canonicalIpv6(address: string): string {
  const lower = address.toLowerCase();
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(lower);
  if (!tail) return lower;
  const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
  const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  return `${lower.slice(0, tail.index)}${hex(a, b)}:${hex(c, d)}`;
}
