/**
 * How Keygate resolves the names it dials (issue 9 §4). Node's default, getaddrinfo(3), runs on
 * libuv's thread pool: four threads, shared with file I/O and crypto. An agent that CONNECTs to
 * thousands of never-seen names through a slow DNS server held all four, and another agent's
 * mapped request then waited 10 s for a thread and got 504. So there are two lanes:
 *
 * - **mapped** (a host with a mapping, where a secret is injected): the system resolver, exactly
 *   as before, so /etc/hosts, mDNS and macOS per-domain (VPN) resolvers all apply; each agent may
 *   hold at most `maxSystemPerAgent` (2) of the pool's threads, the rest of its lookups queue.
 * - **unmapped** (tunnels, plain forwards to hosts without a mapping): IP literals, the hosts file
 *   and `*.localhost` (RFC 6761 §6.3) are answered here; anything else goes to c-ares
 *   (`dns.Resolver`), which sends its own queries from the event loop and never takes a pool
 *   thread. Each agent may have `maxPendingPerAgent` (32) such lookups in flight; more are refused
 *   at once (`EAI_AGAIN`, a 502), so a flood costs that agent and nobody else. A name c-ares
 *   finds no address for (NXDOMAIN, no data, server refusal) is asked of the system resolver once
 *   more, for what only it knows (macOS per-domain resolvers, mDNS), through a single shared
 *   thread; a name whose DNS server does not answer is not.
 */
import dns from 'node:dns';
import net from 'node:net';
import { errnoCode, InvalidInputError } from '../errors.js';
import { HostsFile } from './hosts-file.js';

export type DnsLane = 'mapped' | 'unmapped';

/**
 * The lane of a forwarded request or upgrade: mapped when a secret goes with it, or when it goes
 * over TLS. A tunnel is intercepted only for a mapped host, whose name keeps the system resolver
 * on paths its mapping does not cover too; an absolute-form `https://` target is treated alike.
 */
export function forwardLane(secure: boolean, mapped: boolean): DnsLane {
  return secure || mapped ? 'mapped' : 'unmapped';
}
export type LookupFunction = NonNullable<net.TcpSocketConnectOpts['lookup']>;
type SystemLookup = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

export interface UpstreamDnsOptions {
  /** DNS servers for c-ares (`serve --dns-server`, `IP[:PORT]`); default the system's. */
  readonly servers?: readonly string[];
  /** c-ares: wait this long for an answer, per try (default 2,500 ms)… */
  readonly timeoutMs?: number;
  /** …and try this many times (default 2): 5 s in all, inside the 10 s connect timeout. */
  readonly tries?: number;
  readonly maxPendingPerAgent?: number;
  readonly maxSystemPerAgent?: number;
  readonly hostsFile?: HostsFile;
  /** getaddrinfo (tests count its calls). */
  readonly systemLookup?: SystemLookup;
}

/** c-ares answers after which the system resolver may still know the name. */
const ASK_THE_SYSTEM: ReadonlySet<string> = new Set([
  dns.NOTFOUND,
  dns.NODATA,
  dns.SERVFAIL,
  dns.REFUSED,
]);
/** Lookups waiting for a pool thread, per agent and for the shared fallback. */
const MAX_QUEUED = 256;

export class UpstreamDns {
  readonly #resolver: dns.promises.Resolver;
  readonly #hosts: HostsFile;
  readonly #systemLookup: SystemLookup;
  readonly #maxPending: number;
  readonly #maxSystem: number;
  readonly #pending = new Map<string, number>();
  readonly #systemGates = new Map<string, Gate>();
  /** The one pool thread unmapped names may use, whoever asks. */
  readonly #fallbackGate = new Gate(1, MAX_QUEUED);
  readonly #lookups = new Map<string, LookupFunction>();

  constructor(options: UpstreamDnsOptions = {}) {
    this.#resolver = new dns.promises.Resolver({
      timeout: options.timeoutMs ?? 2_500,
      tries: options.tries ?? 2,
    });
    if (options.servers !== undefined && options.servers.length > 0) {
      setServers(this.#resolver, options.servers);
    }
    this.#hosts = options.hostsFile ?? new HostsFile();
    this.#systemLookup = options.systemLookup ?? (dns.lookup as unknown as SystemLookup);
    this.#maxPending = options.maxPendingPerAgent ?? 32;
    this.#maxSystem = options.maxSystemPerAgent ?? 2;
  }

  /** The `lookup` for net.connect / tls.connect / http.request, for one agent and lane. */
  lookupFor(agent: string, lane: DnsLane): LookupFunction {
    const key = `${lane}\0${agent}`;
    let lookup = this.#lookups.get(key);
    if (lookup === undefined) {
      lookup = (hostname, options, callback) => {
        this.resolve(agent, lane, hostname, familyOf(options.family)).then(
          (addresses) => {
            const [first] = addresses;
            if (options.all === true) callback(null, addresses);
            else if (first) callback(null, first.address, first.family);
          },
          (err: NodeJS.ErrnoException) => callback(err, '', 0),
        );
      };
      this.#lookups.set(key, lookup);
    }
    return lookup;
  }

  /** Never empty: no address is an ENOTFOUND error. */
  async resolve(
    agent: string,
    lane: DnsLane,
    hostname: string,
    family: 0 | 4 | 6 = 0,
  ): Promise<dns.LookupAddress[]> {
    const literal = net.isIP(hostname);
    if (literal !== 0) return [{ address: hostname, family: literal }];
    if (lane === 'mapped') return this.#system(this.#gateFor(agent), hostname, family);

    const local = this.#local(hostname, family);
    if (local !== undefined) return local;
    const pending = this.#pending.get(agent) ?? 0;
    if (pending >= this.#maxPending) {
      throw lookupError(
        'EAI_AGAIN',
        hostname,
        `agent ${agent} has ${pending} DNS lookups in flight already; try again`,
      );
    }
    this.#pending.set(agent, pending + 1);
    try {
      return await this.#cares(hostname, family);
    } catch (err) {
      if (!ASK_THE_SYSTEM.has(errnoCode(err) ?? '')) throw err;
      return await this.#system(this.#fallbackGate, hostname, family);
    } finally {
      const left = (this.#pending.get(agent) ?? 1) - 1;
      if (left === 0) this.#pending.delete(agent);
      else this.#pending.set(agent, left);
    }
  }

  /** The hosts file, then RFC 6761 §6.3: `localhost` and `*.localhost` are loopback. */
  #local(hostname: string, family: 0 | 4 | 6): dns.LookupAddress[] | undefined {
    const entry = this.#hosts.lookup(hostname);
    if (entry !== undefined) {
      const found = [
        ...(family === 6 ? [] : entry.v4.map((address) => ({ address, family: 4 }))),
        ...(family === 4 ? [] : entry.v6.map((address) => ({ address, family: 6 }))),
      ];
      if (found.length > 0) return found;
    }
    const name = hostname.toLowerCase().replace(/\.$/, '');
    if (name !== 'localhost' && !name.endsWith('.localhost')) return undefined;
    return [
      ...(family === 6 ? [] : [{ address: '127.0.0.1', family: 4 }]),
      ...(family === 4 ? [] : [{ address: '::1', family: 6 }]),
    ];
  }

  async #cares(hostname: string, family: 0 | 4 | 6): Promise<dns.LookupAddress[]> {
    const [v4, v6] = await Promise.allSettled([
      family === 6 ? Promise.resolve([]) : this.#resolver.resolve4(hostname),
      family === 4 ? Promise.resolve([]) : this.#resolver.resolve6(hostname),
    ]);
    const found = [
      ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
      ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
    ];
    if (found.length > 0) return found;
    // Both failed (or answered nothing): the A query's reason, unless it was only "no data".
    const reasons = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    const reason =
      reasons.find((r) => (r as NodeJS.ErrnoException).code !== dns.NODATA) ?? reasons[0];
    throw reason ?? lookupError(dns.NOTFOUND, hostname, `no address for ${hostname}`);
  }

  #system(gate: Gate, hostname: string, family: 0 | 4 | 6): Promise<dns.LookupAddress[]> {
    return gate.run(
      () =>
        new Promise<dns.LookupAddress[]>((resolve, reject) => {
          this.#systemLookup(hostname, { family, all: true }, (err, addresses) => {
            if (err) reject(err);
            else if (addresses.length === 0)
              reject(lookupError(dns.NOTFOUND, hostname, `no address for ${hostname}`));
            else resolve(addresses);
          });
        }),
      () => lookupError('EAI_AGAIN', hostname, `too many DNS lookups waiting; try again`),
    );
  }

  #gateFor(agent: string): Gate {
    let gate = this.#systemGates.get(agent);
    if (gate === undefined) {
      gate = new Gate(this.#maxSystem, MAX_QUEUED);
      this.#systemGates.set(agent, gate);
    }
    return gate;
  }
}

/** At most `limit` tasks at a time, `maxQueued` waiting; beyond that, refused at once. */
class Gate {
  #running = 0;
  readonly #queue: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly maxQueued: number,
  ) {}

  async run<T>(task: () => Promise<T>, refusal: () => Error): Promise<T> {
    if (this.#running >= this.limit) {
      if (this.#queue.length >= this.maxQueued) throw refusal();
      // Woken by a finishing task, which hands over its slot: #running stays as it is.
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

function familyOf(family: number | string | undefined): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

function lookupError(code: string, hostname: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${message} (${hostname})`), { code, hostname });
}

/** `--dns-server IP[:PORT]`, as c-ares takes them; anything else is refused by name. */
function setServers(resolver: dns.promises.Resolver, servers: readonly string[]): void {
  for (const server of servers) {
    try {
      new dns.promises.Resolver().setServers([server]);
    } catch {
      throw new InvalidInputError(
        `--dns-server ${server}: expected an IP address with an optional port (127.0.0.1:53, [::1]:53)`,
      );
    }
  }
  resolver.setServers([...servers]);
}
