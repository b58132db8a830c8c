/**
 * Which hosts a mapping covers: one exact host (`api.openai.com`, `127.0.0.1`, `::1`) or every
 * subdomain of one (`*.example.com`).
 */
import { isIP } from 'node:net';
import { bareHost } from '../../shared/uri-host.js';
import { InvalidInputError } from '../errors.js';
import { canonicalHost } from './host-name.js';

/** Beats every wildcard: a wildcard's specificity is its suffix length, at most 254. */
const EXACT_SPECIFICITY = 1000;

export class HostMatcher {
  /** The canonical pattern: lower-case, punycode, no trailing dot, IPv6 without brackets. */
  readonly pattern: string;
  /**
   * Higher wins when several patterns match one host: an exact host beats any wildcard, and a
   * longer wildcard suffix (`*.eu.example.com`) beats a shorter one (`*.example.com`). Two
   * wildcards that match the same host have nested suffixes, so longer also means more labels.
   */
  readonly specificity: number;
  /** The host, for an exact pattern; lets the rule table index exact hosts in a Map. */
  readonly exactHost: string | undefined;
  /** `.example.com` for `*.example.com`; undefined for an exact pattern. */
  readonly wildcardSuffix: string | undefined;

  constructor(pattern: string) {
    const problem = describeProblem(pattern);
    if (problem !== undefined) throw new InvalidInputError(`host "${pattern}": ${problem}`);

    if (pattern.startsWith('*.')) {
      const base = canonicalHost(pattern.slice(2));
      if (base === undefined) {
        throw new InvalidInputError(
          `host "${pattern}": "${pattern.slice(2)}" is not a valid host name (RFC 1123 letters, digits and hyphens; labels of at most 63 characters)`,
        );
      }
      if (isIP(base) !== 0) {
        throw new InvalidInputError(
          `host "${pattern}": a wildcard needs a domain name after "*.", not an IP address`,
        );
      }
      // One label after `*.` would cover a whole top-level domain (`*.com`), sending the secret
      // to every site under it. List the hosts instead.
      if (!base.includes('.')) {
        throw new InvalidInputError(
          `host "${pattern}": "*.${base}" would match every host under a top-level domain; use a longer suffix such as *.example.${base}`,
        );
      }
      this.pattern = `*.${base}`;
      this.wildcardSuffix = `.${base}`;
      this.exactHost = undefined;
      this.specificity = this.wildcardSuffix.length;
    } else {
      const host = canonicalHost(pattern);
      if (host === undefined) {
        throw new InvalidInputError(
          `host "${pattern}": not a valid host name or IP address (RFC 1123 letters, digits and hyphens; labels of at most 63 characters, 253 in all)`,
        );
      }
      this.pattern = host;
      this.exactHost = host;
      this.wildcardSuffix = undefined;
      this.specificity = EXACT_SPECIFICITY;
    }
  }

  /** `host` must already be canonical (see `canonicalHost`). */
  matches(host: string): boolean {
    if (this.wildcardSuffix === undefined) return host === this.exactHost;
    // Longer than the suffix, so at least one label precedes it: `example.com` itself is out.
    return host.length > this.wildcardSuffix.length && host.endsWith(this.wildcardSuffix);
  }

  get isWildcard(): boolean {
    return this.wildcardSuffix !== undefined;
  }

  explain(): string {
    if (this.wildcardSuffix === undefined) return `host is ${this.pattern}`;
    const base = this.wildcardSuffix.slice(1);
    return `host is any subdomain of ${base} (one or more labels), not ${base} itself`;
  }
}

/** The mistakes people make, each with the fix; undefined when the pattern's shape is fine. */
function describeProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'the host is empty';
  if (/\s/.test(pattern)) return 'contains whitespace';
  if (pattern.includes('://') || pattern.includes('/')) {
    return 'pass only the host name (api.example.com), not a URL or a path';
  }
  if (pattern.includes('@')) return 'contains "@"; pass only the host name, without a user name';
  if (pattern === '*' || pattern === '*.') {
    return 'a bare "*" would match every host; use a suffix such as *.example.com';
  }
  const star = pattern.indexOf('*');
  if (star !== -1) {
    if (star !== 0 || pattern.indexOf('*', 1) !== -1) {
      return 'a wildcard is only allowed as the whole leftmost label, as in *.example.com';
    }
    if (!pattern.startsWith('*.')) {
      return 'a wildcard must be a whole label: write *.example.com, not *example.com';
    }
  }
  // Brackets come as a pair around an IPv6 address (RFC 3986 §3.2.2); a lone one is a typo, not
  // a port, whatever the colons below would suggest.
  if (pattern.includes('[') !== pattern.includes(']')) {
    return 'has a "[" or "]" without its pair; write an IPv6 address whole, as in [::1]';
  }
  // Bare or bracketed IPv6 contains colons of its own; anything else with a colon has a port.
  if (pattern.includes(':') && isIP(bareHost(pattern)) !== 6) {
    return 'must not include a port; give the port separately';
  }
  return undefined;
}
