/**
 * Keygate's proxy: the decisions on top of the TLS/server core (keygate-mitm-proxy.ts).
 *
 * For each CONNECT: authenticate the agent, then intercept (a mapping covers host:port) or tunnel
 * (nothing does; or refuse with --deny-unmapped). For each intercepted request: check the Host
 * header names the CONNECT target (docs/decisions/0002, defect 2), inject the mapping's credential, and
 * forward over verified TLS. Plain-HTTP absolute-form requests (axios, some SDKs) get the same
 * rules, except that a credential never travels in plaintext unless a loopback mapping allows it.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { PLACEHOLDER_KEY } from '../../shared/presets.js';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { ErrorCallback, IContext } from 'http-mitm-proxy';
import type { WebSocket } from 'ws';
import type { ActivityOutcome } from '../../shared/activity.js';
import type { ActivityLog, NewActivity } from '../activity/activity-log.js';
import {
  AgentAuthRequiredError,
  AgentClosedError,
  BadProxyRequestError,
  HostDeniedError,
  HostMismatchError,
  HostNotGrantedError,
  KeygateError,
  PlaintextRefusedError,
  SecretUnavailableError,
  UpstreamUnreachableError,
} from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { CompiledMapping } from '../rules/compiled-mapping.js';
import { canonicalHost, isLoopbackHost, parseAuthority } from '../rules/host-name.js';
import type { InjectionSecrets } from '../rules/injectors/types.js';
import type { RuleTable } from '../rules/rule-table.js';
import type { Secret } from '../secrets/secret.js';
import type { SecretResolver } from '../secrets/secret-resolver.js';
import type { LeafCertificates } from '../tls/index.js';
import type { AgentDirectory, AuthenticatedAgent } from './agent-directory.js';
import type { UpstreamRoutes } from './connect-to.js';
import { sendError, writeRawError } from './error-response.js';
import { forwardableRequestHeaders, forwardableResponseHeaders } from './hop-by-hop.js';
import { KeygateMitmProxy, type VerifyResult } from './keygate-mitm-proxy.js';
import { terminateTls } from './tls-termination.js';
import { CONNECTION_ESTABLISHED, logTunnelFailure, openTunnel } from './tunnel.js';
import { relay } from './relay.js';
import { SecretScrubber } from './secret-scrubber.js';
import {
  decodableEncodings,
  isScrubbableWhole,
  scrubbingStages,
  scrubHeaderValues,
} from './response-scrubbing.js';
import type { UpstreamAgents } from './upstream-agents.js';
import { classifyUpstreamError, UpstreamTimeout } from './upstream-errors.js';
import { dialUpstreamWebSocket, relayWebSocket, type UpstreamDial } from './websocket-relay.js';

export interface ProxyPolicy {
  readonly rules: RuleTable;
  readonly agents: AgentDirectory;
  readonly denyUnmapped: boolean;
}

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

export interface ProxyServerOptions {
  readonly logger: Logger;
  readonly activity: ActivityLog;
  readonly resolver: SecretResolver;
  readonly leaves: LeafCertificates;
  readonly routes: UpstreamRoutes;
  readonly upstream: UpstreamAgents;
  readonly policy: ProxyPolicy;
  readonly timeouts?: Partial<ProxyTimeouts>;
  readonly connectionsCheckingIntervalMs?: number;
  readonly headersTimeoutMs?: number;
}

/** What Keygate knows about an intercepted connection: where the agent CONNECTed, and who it is. */
interface InterceptedConnection {
  readonly host: string;
  readonly port: number;
  readonly agent: AuthenticatedAgent;
}

interface Exchange {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** Host header to send upstream; undefined keeps the agent's. */
  readonly hostHeader: string | undefined;
  readonly mapping: CompiledMapping | undefined;
  readonly agent: AuthenticatedAgent;
  readonly started: number;
  /** Set when a credential was injected: the response must not carry it back. */
  scrubber?: SecretScrubber | undefined;
}

/** A verified WebSocket upgrade whose upstream is already open, waiting for the agent's 101. */
interface OpenWebSocket {
  readonly upstream: WebSocket;
  /** Messages from the upstream pass through it: an echoed credential becomes the placeholder. */
  readonly scrubber: SecretScrubber | undefined;
  claimed: boolean;
}

const HEALTH_BODY = JSON.stringify({ ok: true, service: 'keygate' });
const NO_USER = {};

function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/** RFC 6455 §4.1: `Sec-WebSocket-Protocol` is a comma-separated list, possibly repeated. */
function offeredProtocols(header: string | string[] | undefined): string[] {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return values.flatMap((value) => value.split(',').map((p) => p.trim())).filter(Boolean);
}

function authorityText(host: string, port: number, defaultPort: number): string {
  const name = host.includes(':') ? `[${host}]` : host;
  return port === defaultPort ? name : `${name}:${port}`;
}

export class ProxyServer {
  readonly #options: ProxyServerOptions;
  readonly #timeouts: ProxyTimeouts;
  readonly #log: Logger;
  readonly #mitm: KeygateMitmProxy;
  readonly #connections = new WeakMap<TLSSocket, InterceptedConnection>();
  readonly #openWebSockets = new WeakMap<http.IncomingMessage, OpenWebSocket>();
  readonly #scrubbers = new WeakMap<Secret, WeakMap<object, SecretScrubber>>();
  #policy: ProxyPolicy;

  constructor(options: ProxyServerOptions) {
    this.#options = options;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.#log = options.logger;
    this.#policy = options.policy;
    this.#mitm = new KeygateMitmProxy({
      logger: options.logger,
      httpsAgent: options.upstream.https,
      httpAgent: options.upstream.http,
      webSockets: {
        verify: (req, secure) => this.#verifyWebSocket(req, secure),
        protocolFor: (req) => this.#openWebSockets.get(req)?.upstream.protocol || false,
        accept: (agentSide, req) => this.#acceptWebSocket(agentSide, req),
      },
      ...(options.connectionsCheckingIntervalMs
        ? { connectionsCheckingIntervalMs: options.connectionsCheckingIntervalMs }
        : {}),
      ...(options.headersTimeoutMs ? { headersTimeoutMs: options.headersTimeoutMs } : {}),
    });
    this.#mitm.onConnect((req, socket, head, next) => this.#onConnect(req, socket, head, next));
    this.#mitm.onRequest((ctx, next) => this.#onRequest(ctx, next));
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

  close(): Promise<void> {
    return this.#mitm.shutdown();
  }

  // ---- CONNECT ---------------------------------------------------------------------------

  #onConnect(req: http.IncomingMessage, socket: Duplex, head: Buffer, _next: ErrorCallback): void {
    // `_next` is never called: the library would open a per-host server and dial it at 0.0.0.0.
    const started = performance.now();
    const target = parseAuthority(req.url ?? '', { requirePort: true });
    if (!target) {
      const shown = (req.url ?? '').slice(0, 100);
      this.#refuseConnect(
        socket,
        new BadProxyRequestError(`CONNECT target "${shown}" is not host:port`),
        '(invalid)',
        0,
        started,
      );
      return;
    }
    const { host, port } = target;
    const agent = this.#policy.agents.authenticate(req.headers['proxy-authorization']);
    if (!agent) {
      this.#refuseConnect(socket, this.#authError(), host, port, started);
      return;
    }
    const policy = this.#policy;
    if (policy.rules.hasHost(host, port)) {
      if (!agent.mayUseHost(host)) {
        const err = new HostNotGrantedError(
          `agent "${agent.name}" is not granted ${host}; see \`keygate agent add --hosts\``,
        );
        this.#refuseConnect(socket, err, host, port, started, agent);
        return;
      }
      this.#intercept(socket, head, { host, port, agent }, started);
      return;
    }
    if (policy.denyUnmapped) {
      const err = new HostDeniedError(
        `${host}:${port} is not mapped, and Keygate runs with --deny-unmapped`,
      );
      this.#refuseConnect(socket, err, host, port, started, agent);
      return;
    }
    this.#tunnel(socket, head, { host, port, agent }, started);
  }

  #authError(): KeygateError {
    return new AgentAuthRequiredError(
      'Keygate needs an agent token: use the proxy URL from `keygate env` (http://NAME:TOKEN@127.0.0.1:PORT)',
    );
  }

  #refuseConnect(
    socket: Duplex,
    err: KeygateError,
    host: string,
    port: number,
    started: number,
    agent?: AuthenticatedAgent,
  ): void {
    writeRawError(socket, err, { host });
    this.#record(err.status >= 500 ? 'error' : 'denied', {
      host,
      port,
      agent,
      status: err.status,
      error: err.errorId,
      method: 'CONNECT',
      started,
    });
  }

  #tunnel(socket: Duplex, head: Buffer, conn: InterceptedConnection, started: number): void {
    const destination = {
      ...this.#options.routes.route(conn.host, conn.port),
      lookup: this.#options.upstream.dns.lookupFor(conn.agent.name, 'unmapped'),
    };
    openTunnel(socket, head, destination, this.#timeouts.connectMs, {
      onOpen: () =>
        this.#record('tunneled', {
          host: conn.host,
          port: conn.port,
          agent: conn.agent,
          method: 'CONNECT',
          status: 200,
          started,
        }),
      onFailure: (err) => {
        const error = classifyUpstreamError(err, `tunnel to ${conn.host}:${conn.port}`);
        logTunnelFailure(this.#log, conn, error);
        this.#refuseConnect(socket, error, conn.host, conn.port, started, conn.agent);
      },
    });
  }

  #intercept(socket: Duplex, head: Buffer, conn: InterceptedConnection, started: number): void {
    const leaves = this.#options.leaves;
    try {
      // What can be known without minting is checked before the CONNECT is answered, so the
      // agent gets a status it can show rather than a TLS failure.
      leaves.assertCanMint(conn.host);
    } catch (err) {
      this.#mintFailed(socket, conn, started, err, { answered: false });
      return;
    }
    // Answered before the leaf is ready (as mitmproxy does): a new host's mint (~1 ms) then
    // overlaps the agent setting up its side of TLS, instead of adding to it. The agent's bytes
    // wait in the paused socket until the TLSSocket takes them.
    socket.pause();
    socket.write(CONNECTION_ESTABLISHED);
    leaves.secureContextFor(conn.host).then(
      (secureContext) => {
        if (socket.destroyed) return;
        terminateTls(socket, head, secureContext, this.#timeouts.handshakeMs, {
          onSecure: (tlsSocket) => {
            this.#connections.set(tlsSocket, conn);
            this.#mitm.acceptIntercepted(tlsSocket);
          },
          onHandshakeError: (err) =>
            this.#log.info(
              'agent did not complete TLS with Keygate; does it trust the Keygate CA? (keygate env)',
              {
                host: conn.host,
                agent: conn.agent.name,
                reason: err.message,
              },
            ),
        });
        socket.resume();
      },
      (err: unknown) => this.#mintFailed(socket, conn, started, err, { answered: true }),
    );
  }

  /**
   * Before the 200, the agent gets a 502 naming the problem. After it (an OpenSSL failure while
   * minting: not expected in practice), all that is left is to close the tunnel; the log and the
   * activity record carry the reason.
   */
  #mintFailed(
    socket: Duplex,
    conn: InterceptedConnection,
    started: number,
    err: unknown,
    { answered }: { answered: boolean },
  ): void {
    this.#log.error('could not mint a certificate', { host: conn.host, err });
    const error = new UpstreamUnreachableError(`could not mint a certificate for ${conn.host}`);
    if (!answered) {
      this.#refuseConnect(socket, error, conn.host, conn.port, started, conn.agent);
      return;
    }
    socket.destroy();
    this.#record('error', {
      host: conn.host,
      port: conn.port,
      agent: conn.agent,
      status: error.status,
      error: error.errorId,
      method: 'CONNECT',
      started,
    });
  }

  // ---- Requests --------------------------------------------------------------------------

  #onRequest(ctx: IContext, _next: ErrorCallback): void {
    // `_next` is never called: Keygate forwards the request itself, with backpressure and named
    // errors (docs/decisions/0002, defect 6: the library's filters ignore write()'s return value).
    const started = performance.now();
    const { clientToProxyRequest: req, proxyToClientResponse: res } = ctx;
    try {
      if (ctx.isSSL) this.#onInterceptedRequest(req, res, started);
      else this.#onPlainRequest(req, res, started);
    } catch (err) {
      this.#fail(res, err, { host: '(unknown)', port: 0, started, method: req.method });
    }
  }

  #onInterceptedRequest(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    started: number,
  ): void {
    const conn = this.#connections.get(req.socket as TLSSocket);
    if (!conn) {
      // Defect 1: only sockets Keygate terminated after an authenticated CONNECT get here.
      const err = new BadProxyRequestError(
        'request did not arrive through an authenticated CONNECT',
      );
      this.#deny(res, err, { host: '(unknown)', port: 0, started, method: req.method });
      return;
    }
    const path = req.url ?? '/';
    // Settings may have changed since the CONNECT: a revoked agent or a withdrawn grant applies
    // to connections already open, not only to new ones.
    const agent = this.#policy.agents.named(conn.agent.name);
    if (!agent) {
      this.#deny(res, this.#authError(), {
        host: conn.host,
        port: conn.port,
        started,
        method: req.method,
        path,
      });
      return;
    }
    const where = { host: conn.host, port: conn.port, started, method: req.method, path, agent };
    if (!agent.mayUseHost(conn.host) && this.#policy.rules.hasHost(conn.host, conn.port)) {
      this.#deny(
        res,
        new HostNotGrantedError(`agent "${agent.name}" is not granted ${conn.host}`),
        where,
      );
      return;
    }
    const hostHeader = req.headers.host;
    const authority = hostHeader ? parseAuthority(hostHeader, { defaultPort: 443 }) : undefined;
    if (!authority || authority.host !== conn.host || authority.port !== conn.port) {
      // Defect 2: the library would have forwarded to the Host header's host.
      const err = new HostMismatchError(
        `Host header "${(hostHeader ?? '').slice(0, 100)}" does not match the CONNECT target ${conn.host}:${conn.port}; ` +
          'Keygate only forwards to the host the agent connected to',
      );
      this.#deny(res, err, where);
      return;
    }
    const mapping = this.#policy.rules.match(conn.host, conn.port, path);
    this.#forward({
      req,
      res,
      secure: true,
      host: conn.host,
      port: conn.port,
      path,
      hostHeader: undefined,
      mapping,
      agent,
      started,
    });
  }

  #onPlainRequest(req: http.IncomingMessage, res: http.ServerResponse, started: number): void {
    const target = this.#mitm.requestTarget(req) ?? req.url ?? '';
    if (target.startsWith('/') || target === '*') {
      if (req.method === 'GET' && target === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(HEALTH_BODY);
        return;
      }
      // A browser page (or anything not configured as a proxy) talking to the port directly.
      const err = new BadProxyRequestError(
        'this port is an HTTP proxy; point your agent at it with HTTPS_PROXY (see `keygate env`)',
      );
      this.#deny(res, err, { host: '(origin-form)', port: 0, started, method: req.method });
      return;
    }
    const agent = this.#policy.agents.authenticate(req.headers['proxy-authorization']);
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      this.#deny(
        res,
        new BadProxyRequestError(`request target "${target.slice(0, 100)}" is not a URL`),
        { host: '(invalid)', port: 0, started, method: req.method },
      );
      return;
    }
    const secure = url.protocol === 'https:';
    const host = canonicalHost(url.hostname);
    if ((!secure && url.protocol !== 'http:') || !host) {
      this.#deny(
        res,
        new BadProxyRequestError(`cannot proxy "${url.protocol}//${url.hostname.slice(0, 100)}"`),
        { host: '(invalid)', port: 0, started, method: req.method },
      );
      return;
    }
    const defaultPort = secure ? 443 : 80;
    const port = url.port ? Number(url.port) : defaultPort;
    const path = `${url.pathname}${url.search}`;
    const where = { host, port, started, method: req.method, path };
    if (!agent) {
      this.#deny(res, this.#authError(), where);
      return;
    }
    const hostHeader = req.headers.host;
    if (hostHeader) {
      const authority = parseAuthority(hostHeader, { defaultPort });
      if (!authority || authority.host !== host || authority.port !== port) {
        const err = new HostMismatchError(
          `Host header "${hostHeader.slice(0, 100)}" does not match the request target ${host}:${port}`,
        );
        this.#deny(res, err, { ...where, agent });
        return;
      }
    }
    const policy = this.#policy;
    const mapped = policy.rules.hasHost(host, port);
    if (!mapped && policy.denyUnmapped) {
      this.#deny(
        res,
        new HostDeniedError(`${host}:${port} is not mapped, and Keygate runs with --deny-unmapped`),
        { ...where, agent },
      );
      return;
    }
    if (mapped && !agent.mayUseHost(host)) {
      this.#deny(res, new HostNotGrantedError(`agent "${agent.name}" is not granted ${host}`), {
        ...where,
        agent,
      });
      return;
    }
    const mapping = mapped ? policy.rules.match(host, port, path) : undefined;
    const plaintextToMappedHost =
      !secure &&
      (mapping
        ? !(mapping.config.allowPlaintext && isLoopbackHost(host))
        : policy.rules.hasHostOnAnyPort(host));
    if (plaintextToMappedHost) {
      // Refuse rather than forward the placeholder: a clear error beats the upstream's 401.
      const err = new PlaintextRefusedError(
        `${mapping ? `mapping ${mapping.name}` : host}: refusing plaintext http:// to a mapped host; use https://`,
      );
      this.#deny(res, err, { ...where, agent });
      return;
    }
    const hostText = authorityText(host, port, defaultPort);
    this.#forward({
      req,
      res,
      secure,
      host,
      port,
      path,
      hostHeader: hostText,
      mapping,
      agent,
      started,
    });
  }

  #forward(x: Exchange): void {
    const headers = forwardableRequestHeaders(x.req.headers);
    if (x.hostHeader) headers.host = x.hostHeader;
    if (!x.mapping) {
      this.#send(x, headers, x.path);
      return;
    }
    const mapping = x.mapping;
    const secrets = this.#cachedSecrets(mapping);
    if (secrets) {
      this.#injectAndSend(x, mapping, headers, secrets);
      return;
    }
    // Cold or expired: hold the request body until the secret arrives.
    x.req.pause();
    this.#resolveSecrets(mapping).then(
      (resolved) => this.#injectAndSend(x, mapping, headers, resolved),
      (err: unknown) => this.#fail(x.res, err, this.#where(x)),
    );
  }

  #injectAndSend(
    x: Exchange,
    mapping: CompiledMapping,
    headers: Record<string, string | string[] | undefined>,
    secrets: InjectionSecrets,
  ): void {
    const target = { headers, path: x.path };
    try {
      mapping.injector.apply(target, secrets);
      x.scrubber = this.#scrubberFor(secrets);
      // Only codecs the scrubber can decode: an echoed key inside a zstd body would slip through.
      // Without the header any coding is acceptable (RFC 9110 §12.5.3), so it is always set.
      headers['accept-encoding'] = decodableEncodings(headers['accept-encoding'] ?? '');
    } catch (err) {
      const reason = err instanceof Error ? err.message : 'invalid credential';
      this.#fail(
        x.res,
        new SecretUnavailableError(`mapping ${mapping.name}: ${reason}`),
        this.#where(x),
      );
      return;
    }
    this.#send(x, target.headers, target.path);
  }

  #send(x: Exchange, headers: Record<string, string | string[] | undefined>, path: string): void {
    const { req, res } = x;
    const upstreamRequest = (x.secure ? https : http).request({
      host: x.host,
      port: x.port,
      method: req.method,
      path,
      headers: headers as http.OutgoingHttpHeaders,
      agent: x.secure ? this.#options.upstream.https : this.#options.upstream.http,
      // Per agent, and off the thread pool for hosts without a mapping (dns-lookup.ts).
      lookup: this.#options.upstream.dns.lookupFor(
        x.agent.name,
        x.secure || x.mapping ? 'mapped' : 'unmapped',
      ),
      setHost: headers.host === undefined,
    });
    upstreamRequest.setTimeout(this.#timeouts.upstreamIdleMs, () =>
      upstreamRequest.destroy(new UpstreamTimeout('idle')),
    );
    upstreamRequest.once('socket', (socket) => {
      // A pooled socket is already connected; a new one gets connectMs to connect and handshake.
      if (!socket.connecting) return;
      const timer = setTimeout(
        () => upstreamRequest.destroy(new UpstreamTimeout('connect')),
        this.#timeouts.connectMs,
      );
      timer.unref();
      socket.once(x.secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    let responded = false;
    upstreamRequest.on('response', (upstreamResponse) => {
      responded = true;
      const responseHeaders = forwardableResponseHeaders(upstreamResponse.rawHeaders);
      const stages: NodeJS.ReadWriteStream[] = [];
      if (x.scrubber) {
        const status = upstreamResponse.statusCode ?? 502;
        const hasBody = req.method !== 'HEAD' && status !== 204 && status !== 304;
        if (hasBody && isScrubbableWhole(responseHeaders)) {
          scrubHeaderValues(responseHeaders, x.scrubber);
          this.#sendScrubbedWhole(x, x.scrubber, upstreamResponse, responseHeaders);
          return;
        }
        try {
          stages.push(...scrubbingStages(x.scrubber, responseHeaders, hasBody));
        } catch (err) {
          // Fail closed: a body that cannot be searched may carry the credential back.
          upstreamResponse.destroy();
          const reason = err instanceof Error ? err.message : String(err);
          this.#fail(
            res,
            new UpstreamUnreachableError(`${x.host}: the upstream's ${reason}; not passed on`),
            this.#where(x),
          );
          return;
        }
      }
      res.writeHead(
        upstreamResponse.statusCode ?? 502,
        upstreamResponse.statusMessage,
        responseHeaders,
      );
      // Streams chunk by chunk (SSE stays live) and stops reading upstream while the agent is slow.
      relay(upstreamResponse, stages, res, (err) => {
        if (err)
          this.#log.debug('response stream ended early', {
            host: x.host,
            code: (err as NodeJS.ErrnoException).code,
          });
        this.#record(x.mapping ? 'injected' : 'forwarded', {
          ...this.#where(x),
          status: upstreamResponse.statusCode,
          mapping: x.mapping?.name,
        });
      });
    });
    upstreamRequest.on('error', (err) => {
      req.unpipe(upstreamRequest);
      this.#upstreamFailed(x, err, responded);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstreamRequest.destroy();
    });
    req.on('error', () => upstreamRequest.destroy());
    // pipe() honours upstreamRequest.write()'s return value: an upload never outruns the upstream.
    if (
      req.headers['content-length'] === undefined &&
      req.headers['transfer-encoding'] === undefined
    ) {
      // No body (most GETs): end now rather than set up a pipe for an empty stream.
      upstreamRequest.end();
      req.resume();
      return;
    }
    req.pipe(upstreamRequest);
    req.resume();
  }

  /** The upstream request or its response failed; the agent hears of it as well as it still can. */
  #upstreamFailed(x: Exchange, err: Error, responded: boolean): void {
    const { res } = x;
    if (res.headersSent) {
      // Mid-body: the agent must see a broken response, not a short one that looks whole. An
      // answer already complete (an error Keygate sent) is left to flush.
      if (!res.writableEnded) res.destroy();
      return;
    }
    if (res.destroyed) {
      // The agent left first (its 'close' is what cut the upstream): record that, not an
      // upstream failure that never happened.
      const error = new AgentClosedError('the agent closed the connection before the answer');
      this.#record('error', { ...this.#where(x), status: error.status, error: error.errorId });
      return;
    }
    const where = x.mapping ? `mapping ${x.mapping.name}` : `${x.host}:${x.port}`;
    const code = (err as NodeJS.ErrnoException).code;
    // Answered, then broken off before any of it reached the agent (a body scrubbed whole).
    const error =
      responded && !(err instanceof UpstreamTimeout)
        ? new UpstreamUnreachableError(
            `${where}: the upstream broke off its response (${code ? `${code}: ` : ''}${err.message}); nothing was passed on`,
            { cause: err },
          )
        : classifyUpstreamError(err, where);
    this.#fail(res, error, this.#where(x));
  }

  /**
   * A small plain body (isScrubbableWhole): read whole, scrubbed, and sent with its exact length
   * in one write. Nothing reaches the agent until the upstream's body is complete, so an upstream
   * that breaks off mid-body still gets the agent a clean 502 rather than a truncated 200.
   */
  #sendScrubbedWhole(
    x: Exchange,
    scrubber: SecretScrubber,
    upstreamResponse: http.IncomingMessage,
    headers: http.OutgoingHttpHeaders,
  ): void {
    const { res } = x;
    const chunks: Buffer[] = [];
    let size = 0;
    upstreamResponse.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    upstreamResponse.once('error', (err) => this.#upstreamFailed(x, err, true));
    upstreamResponse.once('end', () => {
      if (res.headersSent || res.destroyed) return;
      const body = scrubber.scrub(
        chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size),
      );
      headers['content-length'] = String(body.length);
      const status = upstreamResponse.statusCode ?? 502;
      res.writeHead(status, upstreamResponse.statusMessage, headers);
      let recorded = false;
      const record = () => {
        if (recorded) return;
        recorded = true;
        this.#record('injected', { ...this.#where(x), status, mapping: x.mapping?.name });
      };
      res.once('finish', record);
      res.once('close', record);
      res.end(body);
    });
  }

  /** One scrubber per resolved secret (cached with it), not one per request. */
  #scrubberFor(secrets: InjectionSecrets): SecretScrubber {
    const byUser = this.#scrubbers.get(secrets.primary) ?? new WeakMap<object, SecretScrubber>();
    this.#scrubbers.set(secrets.primary, byUser);
    const key = secrets.user ?? NO_USER;
    let scrubber = byUser.get(key);
    if (!scrubber) {
      const primary = secrets.primary.reveal();
      const values = [primary, encodeURIComponent(primary)];
      if (secrets.user) {
        const user = secrets.user.reveal();
        values.push(user, Buffer.from(`${user}:${primary}`).toString('base64'));
      }
      scrubber = new SecretScrubber(values, PLACEHOLDER_KEY);
      byUser.set(key, scrubber);
    }
    return scrubber;
  }

  #cachedSecrets(mapping: CompiledMapping): InjectionSecrets | undefined {
    const resolver = this.#options.resolver;
    const primary = resolver.peek(mapping.config.ref);
    if (!primary) return undefined;
    const injector = mapping.config.injector;
    if (injector.type !== 'basic') return { primary };
    const user = resolver.peek(injector.userRef);
    return user ? { primary, user } : undefined;
  }

  async #resolveSecrets(mapping: CompiledMapping): Promise<InjectionSecrets> {
    const resolver = this.#options.resolver;
    const injector = mapping.config.injector;
    try {
      const [primary, user] = await Promise.all([
        resolver.resolve(mapping.config.ref),
        injector.type === 'basic'
          ? resolver.resolve(injector.userRef)
          : Promise.resolve<Secret | undefined>(undefined),
      ]);
      return user ? { primary, user } : { primary };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new SecretUnavailableError(
        `mapping ${mapping.name}: the credential is unavailable (${reason})`,
        { cause: err },
      );
    }
  }

  // ---- WebSockets --------------------------------------------------------------------------

  async #verifyWebSocket(req: http.IncomingMessage, secure: boolean): Promise<VerifyResult> {
    const started = performance.now();
    const refuse = (
      err: KeygateError,
      host: string,
      port: number,
      agent?: AuthenticatedAgent,
    ): VerifyResult => {
      this.#record(err.status >= 500 ? 'error' : 'denied', {
        host,
        port,
        agent,
        method: 'GET',
        path: stripQuery(req.url ?? ''),
        status: err.status,
        error: err.errorId,
        started,
      });
      // Capitalised like ws's own defaults, which it spreads these over: one Content-Type, not two.
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'X-Keygate-Error': err.errorId,
      };
      if (err.status === 407) headers['Proxy-Authenticate'] = 'Basic realm="keygate"';
      return { ok: false, status: err.status, body: err.toBody(), headers };
    };
    let host: string;
    let port: number;
    let agent: AuthenticatedAgent;
    let path: string;
    if (secure) {
      const conn = this.#connections.get(req.socket as TLSSocket);
      if (!conn)
        return refuse(
          new BadProxyRequestError('upgrade did not arrive through an authenticated CONNECT'),
          '(unknown)',
          0,
        );
      const authority = req.headers.host
        ? parseAuthority(req.headers.host, { defaultPort: 443 })
        : undefined;
      if (!authority || authority.host !== conn.host || authority.port !== conn.port) {
        return refuse(
          new HostMismatchError(
            `Host header does not match the CONNECT target ${conn.host}:${conn.port}`,
          ),
          conn.host,
          conn.port,
          conn.agent,
        );
      }
      ({ host, port, agent } = conn);
      path = req.url ?? '/';
    } else {
      const target = this.#mitm.requestTarget(req) ?? req.url ?? '';
      let url: URL | undefined;
      try {
        url = target.startsWith('/') ? undefined : new URL(target);
      } catch {
        url = undefined;
      }
      const parsedHost = url ? canonicalHost(url.hostname) : undefined;
      if (!url || !parsedHost || (url.protocol !== 'ws:' && url.protocol !== 'http:')) {
        return refuse(
          new BadProxyRequestError(
            'this port is an HTTP proxy; WebSockets must go through CONNECT or an absolute ws:// URL',
          ),
          '(origin-form)',
          0,
        );
      }
      host = parsedHost;
      port = url.port ? Number(url.port) : 80;
      path = `${url.pathname}${url.search}`;
      const authenticated = this.#policy.agents.authenticate(req.headers['proxy-authorization']);
      if (!authenticated) return refuse(this.#authError(), host, port);
      agent = authenticated;
    }
    const policy = this.#policy;
    const mapped = policy.rules.hasHost(host, port);
    if (!mapped && policy.denyUnmapped && !secure) {
      return refuse(
        new HostDeniedError(`${host}:${port} is not mapped, and Keygate runs with --deny-unmapped`),
        host,
        port,
        agent,
      );
    }
    const mapping = mapped ? policy.rules.match(host, port, path) : undefined;
    if (mapping && !secure && !(mapping.config.allowPlaintext && isLoopbackHost(host))) {
      return refuse(
        new PlaintextRefusedError(
          `mapping ${mapping.name}: refusing to send its credential over plaintext ws://`,
        ),
        host,
        port,
        agent,
      );
    }
    const headers = forwardableRequestHeaders(req.headers);
    for (const name of Object.keys(headers))
      if (name.startsWith('sec-websocket-')) delete headers[name];
    const target = { headers, path };
    let scrubber: SecretScrubber | undefined;
    if (mapping) {
      try {
        const secrets = this.#cachedSecrets(mapping) ?? (await this.#resolveSecrets(mapping));
        mapping.injector.apply(target, secrets);
        scrubber = this.#scrubberFor(secrets);
      } catch (err) {
        const error =
          err instanceof KeygateError
            ? err
            : new SecretUnavailableError(
                `mapping ${mapping.name}: ${err instanceof Error ? err.message : 'invalid credential'}`,
              );
        return refuse(error, host, port, agent);
      }
    }
    const url = `${secure ? 'wss' : 'ws'}://${authorityText(host, port, secure ? 443 : 80)}${target.path}`;
    const where = { host, port, agent, mapping: mapping?.name, path: stripQuery(path), started };
    let dialled: UpstreamDial;
    try {
      dialled = await dialUpstreamWebSocket({
        url,
        protocols: offeredProtocols(req.headers['sec-websocket-protocol']),
        headers: target.headers,
        agent: secure ? this.#options.upstream.https : this.#options.upstream.http,
        timeoutMs: this.#timeouts.connectMs,
        scrubber,
      });
    } catch (err) {
      const label = `WebSocket to ${host}:${port}`;
      // ws fails the handshake when none of the offered subprotocols was selected, as RFC 6455
      // §4.1 lets a client do and browsers do: the agent's own client would fail it too.
      const error =
        err instanceof Error && /subprotocol/.test(err.message)
          ? new UpstreamUnreachableError(`${label}: ${err.message.toLowerCase()}`, { cause: err })
          : classifyUpstreamError(err, label);
      return refuse(error, host, port, agent);
    }
    if (dialled.kind === 'refused') {
      // The upstream's own answer (a 401, a 404…), as the agent would have had it directly.
      const { status, headers: refusalHeaders, body } = dialled.refusal;
      this.#record(mapping ? 'injected' : 'forwarded', { ...where, method: 'GET', status });
      return { ok: false, status, body, headers: refusalHeaders };
    }
    const open: OpenWebSocket = { upstream: dialled.socket, scrubber, claimed: false };
    this.#openWebSockets.set(req, open);
    // If the agent is gone before its 101 is written, ws never hands its side over.
    req.socket.once('close', () => {
      if (!open.claimed) open.upstream.terminate();
    });
    this.#record(mapping ? 'injected' : 'forwarded', { ...where, method: 'GET', status: 101 });
    return { ok: true };
  }

  #acceptWebSocket(agentSide: WebSocket, req: http.IncomingMessage): void {
    const open = this.#openWebSockets.get(req);
    if (!open || open.claimed) {
      this.#log.error('WebSocket accepted without a verified upstream', { url: req.url });
      agentSide.terminate();
      return;
    }
    open.claimed = true;
    relayWebSocket(agentSide, open.upstream, { scrubber: open.scrubber });
  }

  // ---- Outcomes ----------------------------------------------------------------------------

  #where(x: Exchange) {
    return {
      host: x.host,
      port: x.port,
      started: x.started,
      method: x.req.method,
      path: x.path,
      agent: x.agent,
      mapping: x.mapping?.name,
    };
  }

  #deny(res: http.ServerResponse, err: KeygateError, where: RecordFields): void {
    sendError(res, err);
    this.#record('denied', { ...where, status: err.status, error: err.errorId });
  }

  #fail(res: http.ServerResponse, err: unknown, where: RecordFields): void {
    const error =
      err instanceof KeygateError
        ? err
        : new UpstreamUnreachableError('internal proxy error', { cause: err });
    if (!(err instanceof KeygateError)) this.#log.error('unexpected proxy error', { err });
    else
      this.#log.info('request failed', {
        code: error.errorId,
        host: where.host,
        reason: error.message,
      });
    sendError(res, error);
    this.#record(
      error.status === 407 || error.status === 403 || error.status === 421 ? 'denied' : 'error',
      { ...where, status: error.status, error: error.errorId },
    );
  }

  #record(outcome: ActivityOutcome, fields: RecordFields): void {
    // Assigned field by field rather than spread: this runs once per proxied request.
    const event: { -readonly [K in keyof NewActivity]: NewActivity[K] } = {
      outcome,
      host: fields.host,
      port: fields.port,
      latencyMs: Math.round((performance.now() - fields.started) * 100) / 100,
      // When the request arrived, not when it finished.
      atMs: performance.timeOrigin + fields.started,
    };
    if (fields.agent) event.agent = fields.agent.name;
    if (fields.method) event.method = fields.method;
    // Never the query string: intercepted URLs may carry a query-injected credential.
    if (fields.path) event.path = stripQuery(fields.path);
    if (fields.status !== undefined) event.status = fields.status;
    if (fields.mapping) event.mapping = fields.mapping;
    if (fields.error) event.error = fields.error;
    this.#options.activity.record(event);
  }
}

interface RecordFields {
  readonly host: string;
  readonly port: number;
  readonly started: number;
  readonly method?: string | undefined;
  readonly path?: string | undefined;
  readonly agent?: AuthenticatedAgent | undefined;
  readonly status?: number | undefined;
  readonly mapping?: string | undefined;
  readonly error?: string | undefined;
}
