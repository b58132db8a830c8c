/**
 * What the request-shape handlers (connect.ts, forward.ts, upstream-exchange.ts, websocket.ts)
 * share: the server's options, the current policy, and the bookkeeping that ties an intercepted
 * TLS socket to the CONNECT that admitted it. CredentialProxy builds one; the handlers are functions
 * of it, so each shape can be read on its own.
 */
import type { TLSSocket } from 'node:tls';
import type { ActivityLog } from '../activity/activity-log.js';
import type { Logger } from '../log/logger.js';
import type { SecretResolver } from '../secrets/secret-resolver.js';
import type { LeafCertificates } from '../tls/index.js';
import type { ProxyPolicy } from './admission.js';
import type { AuthenticatedAgent } from './agent-directory.js';
import type { UpstreamRoutes } from './connect-to.js';
import type { KeygateMitmProxy } from './keygate-mitm-proxy.js';
import { Outcomes } from './outcomes.js';
import type { RequestHooks } from './request-hooks.js';
import { SecretInjection } from './secret-injection.js';
import type { UpstreamAgents } from './upstream-agents.js';
import { UpstreamClient } from './upstream-client.js';

export interface ProxyTimeouts {
  /** Dialling an upstream (tunnel or intercept). */
  readonly connectMs: number;
  /** An upstream silent for this long, before or during its response, is cut (504 if unanswered). */
  readonly upstreamIdleMs: number;
  /** The agent must finish its TLS handshake with Keygate within this. */
  readonly handshakeMs: number;
}

export const DEFAULT_TIMEOUTS: ProxyTimeouts = {
  connectMs: 10_000,
  upstreamIdleMs: 600_000,
  handshakeMs: 10_000,
};

export interface CredentialProxyOptions {
  readonly logger: Logger;
  readonly activity: ActivityLog;
  readonly resolver: SecretResolver;
  readonly leaves: LeafCertificates;
  readonly routes: UpstreamRoutes;
  readonly upstream: UpstreamAgents;
  readonly policy: ProxyPolicy;
  /** Approvals, budgets, usage (request-hooks.ts); compose several with composeHooks. */
  readonly hooks?: RequestHooks;
  readonly timeouts?: Partial<ProxyTimeouts>;
  readonly connectionsCheckingIntervalMs?: number;
  readonly headersTimeoutMs?: number;
}

/** What Keygate knows about an intercepted connection: where the agent CONNECTed, and who it is. */
export interface InterceptedConnection {
  readonly host: string;
  readonly port: number;
  /** As authenticated at CONNECT; each request re-checks it by its token (admission rule 2). */
  readonly agent: AuthenticatedAgent;
}

export interface ProxyContext {
  readonly options: CredentialProxyOptions;
  readonly timeouts: ProxyTimeouts;
  readonly log: Logger;
  readonly mitm: KeygateMitmProxy;
  readonly outcomes: Outcomes;
  readonly secrets: SecretInjection;
  readonly hooks: RequestHooks;
  /** Sends admitted requests upstream (upstream-exchange.ts); closed with the proxy. */
  readonly upstream: UpstreamClient;
  /** The policy now: settings may change between a CONNECT and the requests inside it. */
  policy(): ProxyPolicy;
  /** TLS sockets Keygate terminated after an admitted CONNECT (docs/decisions/0002, defect 1). */
  readonly connections: WeakMap<TLSSocket, InterceptedConnection>;
}

/**
 * The context every request shape's handler reads, as CredentialProxy builds it (tests build
 * theirs here too, so they run on the same wiring).
 */
export function createProxyContext(
  options: CredentialProxyOptions,
  mitm: KeygateMitmProxy,
  policy: () => ProxyPolicy,
): ProxyContext {
  const timeouts: ProxyTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  return {
    options,
    timeouts,
    log: options.logger,
    mitm,
    outcomes: new Outcomes(options.activity, options.logger),
    secrets: new SecretInjection(options.resolver),
    hooks: options.hooks ?? {},
    upstream: new UpstreamClient({
      routes: options.routes,
      secureContext: options.upstream.secureContext,
      dns: options.upstream.dns,
      connectMs: timeouts.connectMs,
      idleMs: timeouts.upstreamIdleMs,
    }),
    policy,
    connections: new WeakMap<TLSSocket, InterceptedConnection>(),
  };
}
