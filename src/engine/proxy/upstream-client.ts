/**
 * The client that sends intercepted and forwarded requests upstream: undici, which costs about a
 * quarter less proxy CPU per request than `https.request` on a keep-alive Agent (Node's HTTP
 * client and its response parser are most of the difference; docs/decisions/0007). WebSocket
 * upgrades keep the Node agents (upstream-agents.ts), which `ws` needs.
 *
 * Dialling is Keygate's, not undici's: the connector below routes through `--connect-to`,
 * verifies the name the agent asked for against the shared secure context (secureDial), offers
 * only http/1.1, resolves through the agent's DNS lane (dns-lookup.ts), and bounds dial plus
 * handshake by the connect timeout. So a TLS failure carries Node's own error code, as before.
 * One undici Agent per (agent, lane), because a lookup belongs to whoever caused it.
 */
import { createRequire } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';
import type { Agent, buildConnector, Dispatcher } from 'undici';
import { bareHost } from '../../shared/uri-host.js';
import type { UpstreamRoutes } from './connect-to.js';
import type { DnsLane, LookupFunction, UpstreamDns } from './dns-lookup.js';
import { secureDial } from './upstream-agents.js';
import { UpstreamTimeout } from './upstream-errors.js';

export interface UpstreamClientOptions {
  readonly routes: UpstreamRoutes;
  readonly secureContext: tls.SecureContext;
  readonly dns: UpstreamDns;
  /** Dial and TLS handshake together. */
  readonly connectMs: number;
  /** A connection silent this long, either way, is cut (504 if nothing was answered yet). */
  readonly idleMs: number;
}

export class UpstreamClient {
  readonly #options: UpstreamClientOptions;
  readonly #dispatchers = new Map<string, Agent>();

  constructor(options: UpstreamClientOptions) {
    this.#options = options;
  }

  /** The dispatcher for requests `agentName` sends on `lane`; made on first use. */
  dispatcherFor(agentName: string, lane: DnsLane): Dispatcher {
    const key = `${lane}:${agentName}`;
    let dispatcher = this.#dispatchers.get(key);
    if (!dispatcher) {
      dispatcher = new (undiciAgent())({
        connect: this.#connector(this.#options.dns.lookupFor(agentName, lane)),
        // One request at a time per connection, as Node's agent does (no HTTP/1.1 pipelining).
        pipelining: 1,
      });
      this.#dispatchers.set(key, dispatcher);
    }
    return dispatcher;
  }

  /** Closes every pooled connection; requests in flight are cut. */
  async destroy(): Promise<void> {
    const all = [...this.#dispatchers.values()];
    this.#dispatchers.clear();
    await Promise.all(all.map((dispatcher) => dispatcher.destroy()));
  }

  #connector(lookup: LookupFunction): buildConnector.connector {
    const { routes, secureContext, connectMs, idleMs } = this.#options;
    return (options, callback) => {
      const secure = options.protocol === 'https:';
      const host = bareHost(options.hostname);
      const port = Number(options.port) || (secure ? 443 : 80);
      let socket: net.Socket;
      if (secure) {
        // Once per connection, not per request; built field by field all the same.
        const dial: tls.ConnectionOptions = secureDial(routes, host, port);
        dial.secureContext = secureContext;
        dial.rejectUnauthorized = true;
        // http/1.1 only: Keygate rewrites HTTP/1.1 requests (docs/security.md, "known limits").
        dial.ALPNProtocols = ['http/1.1'];
        dial.lookup = lookup;
        socket = tls.connect(dial);
      } else {
        const target = routes.route(host, port);
        socket = net.connect({ host: target.host, port: target.port, lookup });
      }
      socket.setNoDelay(true);
      // The idle timeout is the socket's, as it was with Node's client: re-armed by every read
      // and write, so a slow upload or a long stream is not cut while bytes move, and nothing
      // is allocated per request (undici's own headers/body timers are per request and outlive
      // it by up to a second in undici's timer wheel: more promoted garbage, decision 0007).
      // undici hands the error to the request on this connection, if any; a pooled idle one
      // simply closes.
      socket.setTimeout(idleMs, () => socket.destroy(new UpstreamTimeout('idle')));
      let settled = false;
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeListener('error', settle);
        if (err) {
          socket.destroy();
          callback(err, null);
        } else callback(null, socket);
      };
      const timer = setTimeout(() => settle(new UpstreamTimeout('connect')), connectMs);
      timer.unref();
      socket.once(secure ? 'secureConnect' : 'connect', () => settle(null));
      socket.once('error', settle);
    };
  }
}

/**
 * undici's Agent, loaded when the first request goes upstream. `import 'undici'` would load all
 * of it (fetch, WebSocket, caches, mocks: +20 MB RSS) into every `keygate serve`, idle or not;
 * the Agent and its HTTP/1.1 client are about half that (docs/performance.md, idle RSS target).
 * The path is undici's own file (the package has no exports map); upstream-client.test.ts checks
 * it is still the class `undici` exports, so an upgrade that moves it fails there first.
 */
let agentClass: typeof Agent | undefined;
export function undiciAgent(): typeof Agent {
  agentClass ??= createRequire(import.meta.url)('undici/lib/dispatcher/agent.js') as typeof Agent;
  return agentClass;
}
