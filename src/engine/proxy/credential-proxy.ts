/**
 * Keygate's proxy: the policy layer over the TLS/server core (keygate-mitm-proxy.ts). Every
 * request shape is admitted by one rule (admission.ts) and handled in a file of its own:
 *  - connect.ts: a CONNECT, intercepted or tunnelled;
 *  - forward.ts: an HTTP request, in a tunnel or absolute-form, through the hooks to its secret;
 *  - upstream-exchange.ts: the request upstream and its answer back, scrubbed;
 *  - websocket.ts: an upgrade of either kind;
 *  - outcomes.ts: how each ends (the agent's answer, the log, the activity record).
 * This file only builds the shared context and wires the library's events to those handlers.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { ErrorCallback } from 'http-mitm-proxy';
import type { ProxyPolicy } from './admission.js';
import { handleConnect } from './connect.js';
import { handleRequest } from './forward.js';
import { KeygateMitmProxy } from './keygate-mitm-proxy.js';
import { turnOffAllocationSitePretenuring } from './pretenuring.js';
import {
  createProxyContext,
  type ProxyContext,
  type CredentialProxyOptions,
} from './proxy-context.js';
import { WebSocketUpgrades } from './websocket.js';

export type { ProxyPolicy } from './admission.js';
export {
  DEFAULT_TIMEOUTS,
  type CredentialProxyOptions,
  type ProxyTimeouts,
} from './proxy-context.js';

export class CredentialProxy {
  readonly #mitm: KeygateMitmProxy;
  readonly #context: ProxyContext;
  #policy: ProxyPolicy;

  constructor(options: CredentialProxyOptions) {
    // Process-wide, and the largest GC cost per request without it (pretenuring.ts).
    turnOffAllocationSitePretenuring();
    this.#policy = options.policy;
    const log = options.logger;
    const upgrades: { current?: WebSocketUpgrades } = {};
    this.#mitm = new KeygateMitmProxy({
      logger: log,
      webSockets: {
        verify: (req, secure) => upgrades.current!.verify(req, secure),
        protocolFor: (req) => upgrades.current!.protocolFor(req),
        accept: (agentSide, req) => upgrades.current!.accept(agentSide, req),
      },
      requests: (req, res, secure) => this.#onRequest(req, res, secure),
      ...(options.connectionsCheckingIntervalMs
        ? { connectionsCheckingIntervalMs: options.connectionsCheckingIntervalMs }
        : {}),
      ...(options.headersTimeoutMs ? { headersTimeoutMs: options.headersTimeoutMs } : {}),
    });
    this.#context = createProxyContext(options, this.#mitm, () => this.#policy);
    upgrades.current = new WebSocketUpgrades(this.#context);
    // The library's `next` callback is never called: it would open a per-host server and dial
    // it at 0.0.0.0 (docs/decisions/0002). Requests never reach the library at all (`requests`
    // above): Keygate forwards them itself, with backpressure and named errors (defect 6).
    this.#mitm.onConnect((req, socket, head, _next: ErrorCallback) =>
      handleConnect(this.#context, req, socket as Duplex, head),
    );
  }

  /** Swap rules, agents and deny mode; takes effect for the next CONNECT or request. */
  setPolicy(policy: ProxyPolicy): void {
    this.#policy = policy;
  }

  get policy(): ProxyPolicy {
    return this.#policy;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#mitm.listen({ host, port }, (err) => {
        const address = this.#mitm.address;
        if (err) reject(err);
        else if (!address) reject(new Error('proxy listener has no address'));
        else resolve(address);
      });
    });
  }

  get address(): AddressInfo | undefined {
    return this.#mitm.address;
  }

  async close(): Promise<void> {
    await Promise.all([this.#mitm.shutdown(), this.#context.upstream.destroy()]);
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse, secure: boolean): void {
    const started = performance.now();
    try {
      handleRequest(this.#context, req, res, secure, started);
    } catch (err) {
      this.#context.outcomes.fail(res, err, {
        host: '(unknown)',
        port: 0,
        started,
        method: req.method,
      });
    }
  }
}
