/**
 * `--connect-to HOST1:PORT1:HOST2:PORT2`, with curl's semantics: requests for HOST1:PORT1 are
 * dialled at HOST2:PORT2, while TLS still verifies HOST1. An empty HOST1 or PORT1 matches any.
 * A debugging aid, and how tests reach fake "api.openai.com" servers on loopback.
 */
import { InvalidInputError } from '../errors.js';
import { canonicalHost } from '../rules/host-name.js';
import { bareHost } from '../../shared/uri-host.js';

export interface ConnectToRule {
  readonly fromHost: string | undefined;
  readonly fromPort: number | undefined;
  readonly toHost: string;
  readonly toPort: number;
}

export interface Destination {
  readonly host: string;
  readonly port: number;
}

// host is a name, an IPv4 address, or a bracketed IPv6 address; ports are optional on the left.
const PART = String.raw`(\[[0-9A-Fa-f:.]+\]|[^:\[\]]*)`;
const SPEC = new RegExp(`^${PART}:(\\d*):${PART}:(\\d+)$`);

function parsePort(text: string, spec: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidInputError(`--connect-to ${spec}: port ${text} is not between 1 and 65535`);
  }
  return port;
}

function parseHost(text: string, spec: string): string {
  const host = canonicalHost(bareHost(text));
  if (!host)
    throw new InvalidInputError(`--connect-to ${spec}: "${text}" is not a host name or IP address`);
  return host;
}

export function parseConnectTo(spec: string): ConnectToRule {
  const match = SPEC.exec(spec);
  if (!match) {
    throw new InvalidInputError(
      `--connect-to ${spec}: expected HOST1:PORT1:HOST2:PORT2 (like curl)`,
    );
  }
  const [, fromHost = '', fromPort = '', toHost = '', toPort = ''] = match;
  if (!toHost) throw new InvalidInputError(`--connect-to ${spec}: the destination host is empty`);
  return {
    fromHost: fromHost ? parseHost(fromHost, spec) : undefined,
    fromPort: fromPort ? parsePort(fromPort, spec) : undefined,
    toHost: parseHost(toHost, spec),
    toPort: parsePort(toPort, spec),
  };
}

export class UpstreamRoutes {
  readonly #rules: readonly ConnectToRule[];

  constructor(rules: readonly ConnectToRule[] = []) {
    this.#rules = rules;
  }

  static parse(specs: readonly string[]): UpstreamRoutes {
    return new UpstreamRoutes(specs.map(parseConnectTo));
  }

  /** Where to dial for host:port. First matching rule wins, as in curl. */
  route(host: string, port: number): Destination {
    for (const rule of this.#rules) {
      if (
        (rule.fromHost === undefined || rule.fromHost === host) &&
        (rule.fromPort === undefined || rule.fromPort === port)
      ) {
        return { host: rule.toHost, port: rule.toPort };
      }
    }
    return { host, port };
  }

  explain(): string {
    if (this.#rules.length === 0) return 'no --connect-to routes';
    return this.#rules
      .map((r) => `${r.fromHost ?? '*'}:${r.fromPort ?? '*'} → ${r.toHost}:${r.toPort}`)
      .join(', ');
  }
}
