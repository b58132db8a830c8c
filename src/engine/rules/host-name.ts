/**
 * Host names as the proxy sees them: CONNECT targets (RFC 9110 §9.3.6), Host headers
 * (RFC 9110 §7.2) and what the user types. Everything that compares hosts goes through
 * `canonicalHost` first, so `API.OpenAI.com.`, `api.openai.com` and an IDN's Unicode and punycode
 * spellings all compare equal.
 */
import { isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { bareHost, splitAuthority } from '../../shared/uri-host.js';

/**
 * RFC 1035 §2.3.1 as relaxed by RFC 1123 §2.1 (a label may start with a digit): letters, digits
 * and hyphens, 1–63 characters, no hyphen at either end; at most 253 characters in all (the 255
 * octets of RFC 1035 §2.3.4 minus the length bytes). Underscores are refused on purpose: they are
 * not valid in host names, only in some DNS records.
 */
const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Dotted-quad IPv4, no leading zeros (which some resolvers read as octal). */
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * A name whose last label is numeric (`1.2.3`, `0x7f.1`, `127.1`) is not a host name (RFC 1123
 * §2.1, RFC 3986 §3.2.2) but resolvers and the WHATWG URL parser read it as a short-form IPv4
 * address. Only the strict dotted quad is accepted, so one address has one spelling.
 */
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:\d+|0x[0-9a-f]*)$/;

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Canonical form of a host from a CONNECT target, a Host header or user input: lower-case, an IDN
 * converted to punycode (RFC 5890 A-labels), one trailing dot removed (the root label, RFC 1034
 * §3.1), IPv6 without brackets and in its compressed RFC 5952 form. Returns undefined when the
 * input is not a valid host name, a dotted-quad IPv4 or an IPv6 address.
 */
export function canonicalHost(input: string): string | undefined {
  if (input.length === 0) return undefined;

  if (input.includes(':') || input.startsWith('[')) return canonicalIPv6(input);

  let host = NON_ASCII.test(input) ? domainToASCII(input) : input.toLowerCase();
  // domainToASCII signals failure with an empty string.
  if (host.length === 0) return undefined;
  if (host.endsWith('.')) host = host.slice(0, -1);

  if (IPV4.test(host)) return host;
  if (!HOSTNAME.test(host) || NUMERIC_LAST_LABEL.test(host)) return undefined;
  return host;
}

function canonicalIPv6(input: string): string | undefined {
  // A half-bracketed `[::1` stays as it is and fails isIPv6 below.
  const address = bareHost(input);
  // Zone IDs (`fe80::1%eth0`, RFC 6874) name an interface of this machine; they mean nothing to
  // a remote mapping and the URL parser refuses them.
  if (address.includes('%') || !isIPv6(address)) return undefined;
  // The URL parser applies RFC 5952: lower-case, zeros compressed, embedded IPv4 as hex.
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/**
 * True for `localhost`, 127.0.0.0/8, `::1` and IPv4-mapped loopback (`::ffff:127.x.x.x`). Used to
 * decide whether plaintext injection is acceptable: the secret never leaves the machine.
 * `*.localhost` names are not included: RFC 6761 §6.3 lets resolvers send them elsewhere.
 */
export function isLoopbackHost(host: string): boolean {
  const canonical = canonicalHost(host);
  if (canonical === undefined) return false;
  if (canonical === 'localhost' || canonical === '::1') return true;
  if (IPV4.test(canonical)) return canonical.startsWith('127.');
  // `::ffff:7f00:1` is ::ffff:127.0.0.1 after RFC 5952 compression; 7f00–7fff covers 127/8.
  return /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(canonical);
}

export interface Authority {
  /** Canonical host (see `canonicalHost`); IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
}

export interface ParseAuthorityOptions {
  /** Used when the authority has no port and `requirePort` is not set. */
  defaultPort?: number;
  /** CONNECT targets must carry a port (RFC 9110 §9.3.6). */
  requirePort?: boolean;
}

const PORT_DIGITS = /^\d{1,5}$/;

/**
 * Parses an authority, `host:port` or `[v6]:port` (RFC 3986 §3.2, without userinfo: RFC 9110
 * §4.2.4 forbids it in http(s) URIs and it has no place in a CONNECT target or Host header).
 * Returns undefined when it is malformed: userinfo, an empty or invalid host, brackets around
 * anything but an IPv6 address, an unbracketed IPv6 address, a port that is empty, not decimal,
 * 0 or above 65535, or a missing port when one is required or no default was given.
 *
 * An empty port (`host:`) is allowed by RFC 3986 but refused here: a proxy that accepts odd
 * spellings of an authority is a proxy whose view of the target can differ from its upstream's.
 */
export function parseAuthority(
  input: string,
  options: ParseAuthorityOptions,
): Authority | undefined {
  if (input.includes('@')) return undefined;

  const { host: hostPart, port: portPart, problem } = splitAuthority(input);
  if (problem !== undefined) return undefined;
  // Outside brackets, a colon is an IPv6 address RFC 3986 requires bracketed, and a lone
  // bracket is nothing at all.
  const unbracketed = !hostPart.startsWith('[');
  if (unbracketed && (hostPart.includes(':') || hostPart.includes('[') || hostPart.includes(']'))) {
    return undefined;
  }

  let port: number;
  if (portPart === undefined) {
    if (options.requirePort === true || options.defaultPort === undefined) return undefined;
    port = options.defaultPort;
  } else {
    if (!PORT_DIGITS.test(portPart)) return undefined;
    port = Number(portPart);
    if (port < 1 || port > 65535) return undefined;
  }

  // canonicalHost refuses `[example.com]`: brackets are for IP literals only (RFC 3986 §3.2.2).
  const host = canonicalHost(hostPart);
  return host === undefined ? undefined : { host, port };
}
