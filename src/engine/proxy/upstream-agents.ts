/**
 * The connection pools Keygate uses to reach upstreams. TLS is always verified: against Node's
 * bundled Mozilla roots, the OS store where this Node can read it, and any `--upstream-ca` files.
 * One secure context is built once and shared, because passing `ca` per connection would re-parse
 * ~140 root certificates on every TLS handshake.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { UpstreamRoutes } from './connect-to.js';
import { UpstreamDns, type LookupFunction } from './dns-lookup.js';

export interface UpstreamAgentOptions {
  readonly routes: UpstreamRoutes;
  /** Extra trusted roots (PEM), from `--upstream-ca FILE`. */
  readonly extraCaPem?: readonly string[];
  /** Idle keep-alive sockets kept per host. */
  readonly maxFreeSockets?: number;
  /** How names are resolved (dns-lookup.ts); a default one when absent. */
  readonly dns?: UpstreamDns;
}

export interface UpstreamAgents {
  readonly https: https.Agent;
  readonly http: http.Agent;
  readonly secureContext: tls.SecureContext;
  /** Callers pass `lookup: dns.lookupFor(agent, lane)` with each request; see dns-lookup.ts. */
  readonly dns: UpstreamDns;
  destroy(): void;
}

/**
 * Whose lookup a dial without one counts against. Keygate's own dials each pass their agent's
 * (upstream-exchange.ts, websocket.ts); only the library's forwarding, should a hook call
 * next(), has none.
 */
const UNNAMED = '(unnamed)';

/** OS roots where this runtime can read them (Node ≥ 22.15 / Electron's Node); bundled roots otherwise. */
function systemRoots(): readonly string[] {
  const reader = (tls as unknown as { getCACertificates?: (kind: string) => string[] })
    .getCACertificates;
  if (typeof reader !== 'function') return [];
  try {
    return reader('system');
  } catch {
    // An unreadable OS store is not fatal: the bundled roots still verify public APIs.
    return [];
  }
}

export function trustedRoots(extraCaPem: readonly string[] = []): string[] {
  return [...new Set([...tls.rootCertificates, ...systemRoots(), ...extraCaPem])];
}

type ConnectionCallback = (err: Error | null, socket: Duplex) => void;

/**
 * Where a TLS connection for `host:port` is dialled and what it verifies: the routed address
 * (`--connect-to`), but the certificate of the host the agent asked for. One rule for both
 * upstream clients (the Node agents here, undici in upstream-client.ts).
 */
export function secureDial(
  routes: UpstreamRoutes,
  host: string,
  port: number,
): Pick<tls.ConnectionOptions, 'host' | 'port' | 'servername' | 'checkServerIdentity'> {
  const target = routes.route(host, port);
  return {
    host: target.host,
    port: target.port,
    servername: net.isIP(host) ? undefined : host,
    checkServerIdentity: (_host: string, cert: tls.PeerCertificate) =>
      tls.checkServerIdentity(host, cert),
  };
}

class RoutedHttpsAgent extends https.Agent {
  readonly #lookup: LookupFunction;

  constructor(
    options: https.AgentOptions,
    private readonly routes: UpstreamRoutes,
    dns: UpstreamDns,
  ) {
    super(options);
    // Every host dialled here is intercepted, so mapped.
    this.#lookup = dns.lookupFor(UNNAMED, 'mapped');
  }

  /**
   * The pool key. Every option that changes a TLS connection here is the agent's own (one secure
   * context, verification always on, ALPN fixed), so connections differ only by where they go and
   * the name they verify. Node's version concatenates ~20 option strings per request: 2.2 KB of
   * garbage per proxied request in the allocation profile (docs/performance.md).
   */
  override getName(options?: https.RequestOptions & { servername?: string }): string {
    const o = options ?? {};
    return `${o.host ?? 'localhost'}:${o.port ?? ''}:${o.localAddress ?? ''}:${o.family ?? ''}:${o.servername ?? ''}`;
  }

  // Dial the routed address, but verify the certificate against the host the agent asked for.
  override createConnection(
    options: tls.ConnectionOptions & { host: string; port: number },
    callback?: ConnectionCallback,
  ): Duplex {
    const create = https.Agent.prototype.createConnection as unknown as (
      this: https.Agent,
      o: tls.ConnectionOptions,
      cb?: ConnectionCallback,
    ) => Duplex;
    return create.call(
      this,
      { lookup: this.#lookup, ...options, ...secureDial(this.routes, options.host, options.port) },
      callback,
    );
  }
}

class RoutedHttpAgent extends http.Agent {
  readonly #lookup: LookupFunction;

  constructor(
    options: http.AgentOptions,
    private readonly routes: UpstreamRoutes,
    dns: UpstreamDns,
  ) {
    super(options);
    // Plain http:// may go to any host, so unmapped unless the caller says otherwise.
    this.#lookup = dns.lookupFor(UNNAMED, 'unmapped');
  }

  override createConnection(
    options: net.NetConnectOpts & { host: string; port: number },
    callback?: ConnectionCallback,
  ): Duplex {
    const target = this.routes.route(options.host, options.port);
    const create = http.Agent.prototype.createConnection as unknown as (
      this: http.Agent,
      o: net.NetConnectOpts,
      cb?: ConnectionCallback,
    ) => Duplex;
    return create.call(
      this,
      { lookup: this.#lookup, ...options, host: target.host, port: target.port },
      callback,
    );
  }
}

export function createUpstreamAgents(options: UpstreamAgentOptions): UpstreamAgents {
  const dns = options.dns ?? new UpstreamDns();
  const secureContext = tls.createSecureContext({ ca: trustedRoots(options.extraCaPem) });
  const common = {
    keepAlive: true,
    // LIFO reuses the warmest socket and lets idle ones time out (Node's recommendation for proxies).
    scheduling: 'lifo' as const,
    maxFreeSockets: options.maxFreeSockets ?? 64,
    noDelay: true,
  };
  const httpsAgent = new RoutedHttpsAgent(
    {
      ...common,
      secureContext,
      rejectUnauthorized: true,
      // http/1.1 only: Keygate rewrites HTTP/1.1 requests (see docs/security.md, "known limits").
      ALPNProtocols: ['http/1.1'],
    },
    options.routes,
    dns,
  );
  const httpAgent = new RoutedHttpAgent(common, options.routes, dns);
  return {
    https: httpsAgent,
    http: httpAgent,
    secureContext,
    dns,
    destroy() {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  };
}
