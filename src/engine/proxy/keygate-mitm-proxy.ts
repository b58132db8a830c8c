/**
 * http-mitm-proxy, with its server lifecycle taken over to close the defects listed in
 * docs/decisions/0002. What stays the library's: the CONNECT dispatch (`onConnect` hooks).
 * What Keygate replaces, and why (docs/decisions/0002-http-mitm-proxy-subclass.md):
 *  - listen(): the library generates a 2048-bit RSA CA with node-forge and writes its keys 0644
 *    (defects 3 and 4). Keygate brings its own CA and mints ECDSA leaves in memory.
 *  - the intercepted-TLS server: the library opens HTTPS servers on ports of their own and
 *    dials them at 0.0.0.0 (defects 1 and 8). Here, the TLS server has no port at all: the
 *    CONNECT socket is wrapped in TLS in-process and handed to it (`acceptIntercepted`).
 *  - the request dispatch: every request goes to Keygate's handler (`requests`), target untouched;
 *    the library's per-request context and hooks cost ~5 µs and Keygate used none of them.
 *  - console output (defect 7): routed to Keygate's logger.
 * The library is loaded without its CA module (http-mitm-proxy-module.ts): never used, 4 MB.
 */
import http from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type {
  ErrorCallback,
  IContext,
  IProxyOptions,
  Proxy as LibraryProxy,
} from 'http-mitm-proxy';
import { WebSocketServer, type VerifyClientCallbackAsync, type WebSocket } from 'ws';
import { BadProxyRequestError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { sendError, writeRawError } from './error-response.js';
import { Proxy } from './http-mitm-proxy-module.js';

export interface KeygateMitmProxyOptions {
  readonly logger: Logger;
  /** WebSocket upgrades are Keygate's (websocket-relay.ts), not the library's relay. */
  readonly webSockets: WebSocketHandlers;
  /** Every HTTP request, on the proxy port (`secure` false) or inside an intercepted tunnel. */
  readonly requests: RequestHandler;
  /** How often Node checks for slow request headers (slowloris); default 30 s, lower in tests. */
  readonly connectionsCheckingIntervalMs?: number;
  readonly headersTimeoutMs?: number;
  readonly keepAliveTimeoutMs?: number;
}

export interface WebSocketHandlers {
  /** Before the upgrade is answered: may it proceed? (The upstream is dialled here.) */
  verify(req: http.IncomingMessage, secure: boolean): Promise<VerifyResult>;
  /** The subprotocol to answer with: the one the upstream selected, or none. */
  protocolFor(req: http.IncomingMessage): string | false;
  /** The agent's side is open (101 sent): relay it. */
  accept(agentSide: WebSocket, req: http.IncomingMessage): void;
}

export type RequestHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  secure: boolean,
) => void;

export type VerifyResult =
  { ok: true } | { ok: false; status: number; body: string; headers: Record<string, string> };

export class KeygateMitmProxy extends Proxy {
  /** Serves HTTP over TLS sockets that Keygate terminated itself. Never listens on a port. */
  #interceptServer: http.Server | undefined;
  readonly #hijacked = new Set<Duplex>();

  constructor(private readonly config: KeygateMitmProxyOptions) {
    super();
  }

  override listen(options: IProxyOptions, callback: ErrorCallback = () => undefined): this {
    this.options = options;
    this.httpHost = options.host ?? '127.0.0.1';
    this.httpPort = options.port ?? 0;
    this.timeout = options.timeout ?? 0;
    // Defect 5: keep-alive on both sides. 207 req/s with connection: close, ~3,900 with it.
    this.keepAlive = true;
    this.forceSNI = false;
    this.sslServers = {};
    this.sslSemaphores = {};
    this.connectRequests = {};

    const serverOptions: http.ServerOptions = {
      keepAlive: true,
      keepAliveTimeout: this.config.keepAliveTimeoutMs ?? 65_000,
      headersTimeout: this.config.headersTimeoutMs ?? 30_000,
      connectionsCheckingInterval: this.config.connectionsCheckingIntervalMs ?? 30_000,
      noDelay: true,
      // A missing Host gets Keygate's named 400 (#requireHost), not Node's bare one.
      requireHostHeader: false,
    };

    const outer = http.createServer(serverOptions);
    outer.timeout = this.timeout;
    outer.on('connect', (_req: http.IncomingMessage, socket: Duplex) => this.#track(socket));
    outer.on('connect', this._onHttpServerConnect.bind(this));
    outer.on('request', (req: http.IncomingMessage, res: http.ServerResponse) =>
      this.#dispatch(req, res, false),
    );
    outer.on('clientError', (err: NodeJS.ErrnoException, socket) =>
      this.#onClientError(err, socket),
    );
    this.httpServer = outer;
    // Two copies of ws's typings (ours and the library's) describe the same class.
    this.wsServer = this.#attachWebSockets(outer, false) as unknown as LibraryProxy['wsServer'];

    const inner = http.createServer(serverOptions);
    inner.timeout = this.timeout;
    inner.on('request', (req: http.IncomingMessage, res: http.ServerResponse) =>
      this.#dispatch(req, res, true),
    );
    inner.on('clientError', (err: NodeJS.ErrnoException, socket) =>
      this.#onClientError(err, socket),
    );
    this.#interceptServer = inner;
    // The library reads `httpsServer` for WebSocket bookkeeping; it is the intercept server here.
    this.httpsServer = inner as unknown as https.Server;
    this.wssServer = this.#attachWebSockets(inner, true) as unknown as LibraryProxy['wssServer'];
    // Node starts its header/request timeout checks (slowloris defence) on 'listening'
    // (lib/_http_server.js setupConnectionsTracking). This server never binds a port, so it is
    // told it is listening explicitly.
    inner.emit('listening');

    const onError = (err: Error) => callback(err);
    outer.once('error', onError);
    outer.listen({ host: this.httpHost, port: this.httpPort }, () => {
      outer.off('error', onError);
      outer.on('error', (err) => this.config.logger.error('proxy server error', { err }));
      this.httpPort = (outer.address() as AddressInfo).port;
      callback();
    });
    return this;
  }

  /** Hands a TLS socket, terminated by Keygate for an intercepted CONNECT, to the HTTP server. */
  acceptIntercepted(socket: TLSSocket): void {
    const server = this.#interceptServer;
    if (!server) {
      socket.destroy();
      return;
    }
    server.emit('connection', socket);
  }

  get address(): AddressInfo | undefined {
    const address = this.httpServer?.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  /** Stops accepting, then ends idle and active connections. */
  async shutdown(): Promise<void> {
    const outer = this.httpServer;
    const inner = this.#interceptServer;
    for (const wss of [this.wsServer, this.wssServer]) {
      for (const client of wss?.clients ?? []) client.terminate();
      wss?.close();
    }
    for (const socket of this.#hijacked) socket.destroy();
    this.#hijacked.clear();
    const closed = new Promise<void>((resolve) =>
      outer ? outer.close(() => resolve()) : resolve(),
    );
    outer?.closeAllConnections();
    inner?.closeAllConnections();
    // close() also stops Node's connection-checking timer; the server never bound a port, so the
    // "not running" error it reports is expected.
    inner?.close(() => undefined);
    await closed;
    this.httpServer = undefined;
    this.#interceptServer = undefined;
  }

  override close(): this {
    void this.shutdown();
    return this;
  }

  // Defect 7: the library prints every error to the console. Ours go to the logger, and the
  // library's error handlers still run. Only its CONNECT dispatch can still call this, always
  // without a request context: the paths that pass one (request and WebSocket dispatch) are
  // Keygate's own.
  override _onError(kind: string, ctx: IContext | null, err: Error): void {
    this.config.logger.debug('proxy library error', { kind, err });
    for (const handler of this.onErrorHandlers) handler(ctx as IContext, err, kind);
  }

  override _onSocketError(socketDescription: string, err: NodeJS.ErrnoException): void {
    this.config.logger.debug('socket error', { socket: socketDescription, code: err.code, err });
  }

  // The library would open an HTTPS server per host on 0.0.0.0; Keygate never takes that path.
  override _onHttpServerConnectData(): void {
    throw new Error('unreachable: Keygate answers every CONNECT itself (keygate-mitm-proxy.ts)');
  }

  /**
   * CONNECT and upgrade sockets leave Node's HTTP bookkeeping, so closeAllConnections() cannot
   * see them: kept here, or shutdown would wait for every open tunnel to end by itself, and for
   * every upgrade still in verify() (hooks, the secret, the upstream dial: no bound of its own).
   */
  #track(socket: Duplex): void {
    this.#hijacked.add(socket);
    socket.once('close', () => this.#hijacked.delete(socket));
  }

  /**
   * A request to Keygate's handler, with the library's request dispatch left out
   * (docs/decisions/0002, "2026-12-06"): its context, hooks, and `req.url` rewrite cost ~5 µs per
   * request, and Keygate used none of them. `req.url` stays the request-target exactly as sent
   * (RFC 9112 §3.2), so an absolute-form `GET http://elsewhere/x` reaches admission as it came.
   */
  #dispatch(req: http.IncomingMessage, res: http.ServerResponse, secure: boolean): void {
    // As the library did: errors from either side are Keygate's to log, never the process's to
    // throw; the body waits until a handler reads it.
    req.on('error', this.#onRequestError);
    res.on('error', this.#onResponseError);
    req.pause();
    if (this.#requireHost(req, res)) this.config.requests(req, res, secure);
  }

  readonly #onRequestError = (err: NodeJS.ErrnoException): void =>
    this.config.logger.debug('agent request stream error', { code: err.code, err });

  readonly #onResponseError = (err: NodeJS.ErrnoException): void =>
    this.config.logger.debug('agent response stream error', { code: err.code, err });

  #onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    this.config.logger.debug('client sent a malformed request', { code: err.code });
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : 400;
    const error = new BadProxyRequestError(`malformed HTTP request (${err.code ?? 'parse error'})`);
    writeRawError(socket, error, { status });
  }

  /**
   * HTTP/1.1 requires Host (RFC 9112 §3.2). An absolute-form target carries its own authority,
   * so an HTTP/1.0 client without Host is given it; otherwise a named 400.
   */
  #requireHost(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (req.headers.host) return true;
    const target = req.url ?? '';
    if (/^https?:\/\//i.test(target)) {
      try {
        req.headers.host = new URL(target).host;
        return true;
      } catch {
        // Not a URL after all: refused below like any request without a host.
      }
    }
    sendError(res, new BadProxyRequestError('the request has no Host header'));
    return false;
  }

  #attachWebSockets(server: http.Server, secure: boolean): WebSocketServer {
    const verifyClient: VerifyClientCallbackAsync = (info, done) => {
      this.config.webSockets.verify(info.req, secure).then(
        (result) =>
          result.ok ? done(true) : done(false, result.status, result.body, result.headers),
        (err: unknown) => {
          this.config.logger.error('websocket verification failed', { err });
          done(false, 500, 'internal error');
        },
      );
    };
    const wss = new WebSocketServer({
      noServer: true,
      verifyClient,
      perMessageDeflate: false,
      handleProtocols: (_offered, req) => this.config.webSockets.protocolFor(req),
    });
    // Only WebSocket upgrades go to ws. Anything else (h2c from `curl --http2 http://…`) gets a
    // named error: Keygate speaks HTTP/1.1 (RFC 9110 §7.8 lets a server decline an upgrade).
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      // Until ws answers, only this set knows the socket (see #track); after, wss.clients does too.
      this.#track(socket);
      if (String(req.headers.upgrade ?? '').toLowerCase() === 'websocket') {
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
        return;
      }
      const error = new BadProxyRequestError(
        `upgrade to "${String(req.headers.upgrade).slice(0, 40)}" is not supported; Keygate speaks HTTP/1.1 and WebSocket`,
      );
      writeRawError(socket, error, { headers: req.headers });
    });
    wss.on('error', (err) => this.config.logger.debug('websocket server error', { err }));
    wss.on('connection', (ws, req) => this.config.webSockets.accept(ws, req));
    return wss;
  }
}
