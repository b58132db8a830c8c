/**
 * KeygateMitmProxy (src/engine/proxy/keygate-mitm-proxy.ts): http-mitm-proxy with its server
 * lifecycle taken over (docs/decisions/0002). Each test covers one thing it does differently from
 * the library: its own listen() (127.0.0.1 by default, no library CA, keep-alive, Node's server
 * options and the slowloris timers on both servers), a TLS server without a port that serves the
 * sockets handed to acceptIntercepted, requests to Keygate's handler with the target as sent (the
 * library's request dispatch never runs), named errors for malformed requests and a missing
 * Host, library errors to the logger instead of the console, WebSocket
 * upgrades through Keygate's handlers (anything else refused by name), the library's per-host
 * CONNECT path refused, and shutdown()/close() ending every connection, tunnels and WebSockets
 * included. Real sockets on 127.0.0.1, real TLS with a per-run test CA, real clients (net, tls,
 * http, ws).
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ErrorCallback } from 'http-mitm-proxy';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../../../src/engine/log/logger.js';
import {
  KeygateMitmProxy,
  type KeygateMitmProxyOptions,
  type RequestHandler,
  type WebSocketHandlers,
} from '../../../src/engine/proxy/keygate-mitm-proxy.js';
import { cleanupAfterEach } from '../../helpers/cleanups.js';
import { keygateBody, rawExchange, requestOn, type RawResult } from '../../helpers/raw-http.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import { IGNORED_WEBSOCKETS } from '../../helpers/test-mitm.js';

const HOST = 'api.example.com';
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

let pki: TestPki;
let leaf: { certPem: string; keyPem: string };
beforeAll(async () => {
  pki = await createTestPki();
  leaf = await pki.issue([HOST]);
});

const { cleanups, listen } = cleanupAfterEach();
afterEach(() => vi.restoreAllMocks());

interface Started {
  readonly mitm: KeygateMitmProxy;
  readonly port: number;
  /** Every log line, debug included. */
  readonly logLines: string[];
}

function build(extra: Partial<KeygateMitmProxyOptions> = {}): Omit<Started, 'port'> {
  const logLines: string[] = [];
  const mitm = new KeygateMitmProxy({
    logger: createLogger({ level: 'debug', sink: (line) => logLines.push(line) }),
    webSockets: IGNORED_WEBSOCKETS,
    requests: answerWithRequest,
    ...extra,
  });
  cleanups.push(() => mitm.shutdown());
  return { mitm, logLines };
}

function listening(mitm: KeygateMitmProxy, host: string | undefined = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) =>
    mitm.listen({ ...(host === undefined ? {} : { host }), port: 0 }, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
}

async function start(extra: Partial<KeygateMitmProxyOptions> = {}): Promise<Started> {
  const built = build(extra);
  await listening(built.mitm);
  return { ...built, port: built.mitm.address?.port ?? 0 };
}

/** The default handler: answers every request with what it was handed. */
const answerWithRequest: RequestHandler = (req, res, secure) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ secure, url: req.url, host: req.headers.host }));
};

/** A TLS server for HOST that hands each terminated socket to the intercept server. */
async function startTerminator(mitm: KeygateMitmProxy): Promise<number> {
  const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (socket) =>
    mitm.acceptIntercepted(socket),
  );
  return listen(server);
}

function tlsClient(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: HOST, ca: pki.caPem }, () =>
      resolve(socket),
    );
    socket.once('error', reject);
    cleanups.push(() => void socket.destroy());
  });
}

function tcpClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
    cleanups.push(() => void socket.destroy());
  });
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) =>
    socket.destroyed ? resolve() : socket.once('close', () => resolve()),
  );
}

/** What a client connecting to 127.0.0.1:port gets: 'connected', or the error code. */
function dial(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function json(result: RawResult): unknown {
  return JSON.parse(result.response?.body ?? 'null');
}

const upgradeHead = (host: string, upgrade: string, extra = '') =>
  `GET /socket HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${WS_KEY}\r\n${extra}\r\n`;

describe('listen', () => {
  it('binds 127.0.0.1 when no host is given, without the library’s CA, and says where', async () => {
    const { mitm } = build();
    expect(mitm.address).toBeUndefined();
    // The library's listen() would create its CA (node-forge, keys 0644) under the working
    // directory; here its CA module is a stand-in that throws, so listen() must not reach it.
    await listening(mitm, undefined);
    expect(mitm.address).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
    expect(mitm.address?.port).toBeGreaterThan(0);
    expect(mitm.httpPort).toBe(mitm.address?.port);
    expect(existsSync(join(process.cwd(), '.http-mitm-proxy'))).toBe(false);
  });

  it('calls back with the system error when the port is taken', async () => {
    const port = await listen(net.createServer());
    const { mitm } = build();
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) =>
      mitm.listen({ host: '127.0.0.1', port }, (error) =>
        resolve(error as NodeJS.ErrnoException | undefined),
      ),
    );
    expect(err?.code).toBe('EADDRINUSE');
  });

  it('applies options.timeout to idle connections, on the proxy port and in intercepted TLS', async () => {
    const { mitm } = build();
    await new Promise<void>((resolve, reject) =>
      mitm.listen({ host: '127.0.0.1', port: 0, timeout: 150 }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    const plain = await tcpClient(mitm.address?.port ?? 0);
    const secure = await tlsClient(await startTerminator(mitm));
    // Neither sends a byte: the server lets both go (without the timeout: 30 s of headers wait).
    await Promise.all([closed(plain), closed(secure)]);
  });
});

describe('Node server options, on both servers', () => {
  it('keeps connections alive: 65 s by default, keepAliveTimeoutMs when given', async () => {
    const defaults = await start();
    const given = await start({ keepAliveTimeoutMs: 7_000 });
    const request = `GET /x HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
    const onDefault = await rawExchange(defaults.port, request);
    expect(onDefault.response?.headers['connection']).toEqual(['keep-alive']);
    expect(onDefault.response?.headers['keep-alive']).toEqual(['timeout=65']);
    const onGiven = await rawExchange(given.port, request);
    expect(onGiven.response?.headers['keep-alive']).toEqual(['timeout=7']);
    // The intercept server has the same options.
    const secure = await tlsClient(await startTerminator(given.mitm));
    const inside = await requestOn(secure, request);
    expect(inside.response?.headers['keep-alive']).toEqual(['timeout=7']);
  });

  it('cuts slow request headers with a named 408 on the proxy port (headersTimeoutMs)', async () => {
    const { port } = await start({ headersTimeoutMs: 150, connectionsCheckingIntervalMs: 50 });
    const result = await rawExchange(port, `GET /x HTTP/1.1\r\nHost: `, { timeoutMs: 10_000 });
    expect(result.response?.status).toBe(408);
    expect(keygateBody(result.response)?.error).toBe('keygate_bad_request');
  });

  it('cuts slow request headers inside an intercepted tunnel too: the port-less server is told it listens', async () => {
    const { mitm } = await start({ headersTimeoutMs: 150, connectionsCheckingIntervalMs: 50 });
    const secure = await tlsClient(await startTerminator(mitm));
    const result = await requestOn(secure, `GET /x HTTP/1.1\r\nHost: `, { timeoutMs: 10_000 });
    expect(result.response?.status).toBe(408);
    expect(keygateBody(result.response)?.error).toBe('keygate_bad_request');
  });
});

describe('a request without Host', () => {
  it('HTTP/1.1 gets Keygate’s named 400, not Node’s bare one, on both servers', async () => {
    const { mitm, port } = await start();
    const outer = await rawExchange(port, 'GET /x HTTP/1.1\r\n\r\n');
    expect(outer.response?.status).toBe(400);
    expect(keygateBody(outer.response)).toMatchObject({
      error: 'keygate_bad_request',
      message: expect.stringContaining('no Host header') as unknown,
    });
    const secure = await tlsClient(await startTerminator(mitm));
    const inner = await requestOn(secure, 'GET /x HTTP/1.1\r\n\r\n');
    expect(inner.response?.status).toBe(400);
    expect(keygateBody(inner.response)?.message).toContain('no Host header');
  });

  it('HTTP/1.0 with an absolute-form target is given the target’s host; origin-form is refused', async () => {
    const { port } = await start();
    const absolute = await rawExchange(
      port,
      'GET http://plain.example:8080/a?b=1 HTTP/1.0\r\n\r\n',
    );
    expect(absolute.response?.status).toBe(200);
    expect(json(absolute)).toStrictEqual({
      secure: false,
      url: 'http://plain.example:8080/a?b=1',
      host: 'plain.example:8080',
    });
    const origin = await rawExchange(port, 'GET /a HTTP/1.0\r\n\r\n');
    expect(origin.response?.status).toBe(400);
    expect(keygateBody(origin.response)?.message).toContain('no Host header');
    // Looks absolute, is not a URL: refused like any request without a host.
    const broken = await rawExchange(port, 'GET http://[nope/ HTTP/1.0\r\n\r\n');
    expect(broken.response?.status).toBe(400);
    expect(keygateBody(broken.response)?.message).toContain('no Host header');
  });
});

describe('requests', () => {
  it('reach Keygate’s handler with the target as sent, on the proxy port and inside a tunnel', async () => {
    const { mitm, port } = await start();
    const outer = await rawExchange(
      port,
      'GET http://plain.example:8080/v1?page=2 HTTP/1.1\r\nHost: plain.example:8080\r\n\r\n',
    );
    expect(json(outer)).toStrictEqual({
      secure: false,
      url: 'http://plain.example:8080/v1?page=2',
      host: 'plain.example:8080',
    });
    const secure = await tlsClient(await startTerminator(mitm));
    // Inside a tunnel too: admission must see `http://elsewhere…` as sent (issue 9 §2).
    const inner = await requestOn(
      secure,
      `GET http://elsewhere.example/steal HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
    );
    expect(json(inner)).toStrictEqual({
      secure: true,
      url: 'http://elsewhere.example/steal',
      host: HOST,
    });
  });

  it('never reach the library’s dispatch: its onRequest hooks do not run', async () => {
    const { mitm, port } = await start();
    const hooked: string[] = [];
    mitm.onRequest((ctx, next: ErrorCallback) => {
      hooked.push(ctx.clientToProxyRequest.url ?? '');
      next();
    });
    const outer = await rawExchange(port, `GET /x HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    const secure = await tlsClient(await startTerminator(mitm));
    const inner = await requestOn(secure, `GET /y HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    expect([json(outer), json(inner)]).toMatchObject([{ url: '/x' }, { url: '/y' }]);
    expect(hooked).toEqual([]);
  });

  it('hand over the body unread; an agent gone mid-body is logged, not thrown', async () => {
    let arrived: (req: http.IncomingMessage) => void = () => undefined;
    const request = new Promise<http.IncomingMessage>((resolve) => (arrived = resolve));
    const { port, logLines } = await start({ requests: (req) => arrived(req) });
    const raw = await tcpClient(port);
    raw.write(`POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 100\r\n\r\npart`);
    const req = await request;
    // Paused, not merely unread: a 'data' listener added later must not start the flow.
    expect(req.isPaused()).toBe(true);
    raw.destroy();
    await new Promise((resolve) => req.once('close', resolve));
    expect(logLines).toContainEqual(
      expect.stringMatching(
        /debug agent request stream error code=ECONNRESET err="Error: aborted"/,
      ),
    );
  });
});

describe('malformed requests', () => {
  it('get Keygate’s named errors: 400 for garbage, 431 for headers too large; logged at debug', async () => {
    const { port, logLines } = await start();
    const garbage = await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.response?.status).toBe(400);
    expect(garbage.response?.headers['x-keygate-error']).toEqual(['keygate_bad_request']);
    expect(keygateBody(garbage.response)?.message).toContain('malformed HTTP request');
    const huge = await rawExchange(
      port,
      `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(huge.response?.status).toBe(431);
    expect(keygateBody(huge.response)?.error).toBe('keygate_bad_request');
    expect(logLines.filter((line) => line.includes('client sent a malformed request'))).toEqual([
      expect.stringMatching(/debug.*code=HPE_INVALID_METHOD/),
      expect.stringMatching(/debug.*code=HPE_HEADER_OVERFLOW/),
    ]);
  });

  it('inside an intercepted tunnel too', async () => {
    const { mitm } = await start();
    const secure = await tlsClient(await startTerminator(mitm));
    const result = await requestOn(secure, 'NOT HTTP AT ALL\r\n\r\n');
    expect(result.response?.status).toBe(400);
    expect(keygateBody(result.response)?.error).toBe('keygate_bad_request');
  });
});

describe('CONNECT', () => {
  it('goes to the onConnect hooks; Keygate’s shape (TLS in-process, acceptIntercepted) opens no server per host', async () => {
    const { mitm, port } = await start();
    const secureContext = tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem });
    const connects: string[] = [];
    mitm.onConnect((req, socket) => {
      connects.push(req.url ?? '');
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      const terminated = new tls.TLSSocket(socket as net.Socket, { isServer: true, secureContext });
      terminated.once('secure', () => mitm.acceptIntercepted(terminated));
      terminated.on('error', () => undefined);
    });
    const raw = await tcpClient(port);
    const established = new Promise<void>((resolve) => raw.once('data', () => resolve()));
    raw.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`);
    await established;
    const secure = tls.connect({ socket: raw, servername: HOST, ca: pki.caPem });
    await new Promise<void>((resolve, reject) =>
      secure.once('secureConnect', resolve).once('error', reject),
    );
    const request = `GET /inside HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
    // Two requests on one terminated socket: the intercept server keeps it alive.
    expect(json(await requestOn(secure, request))).toMatchObject({ secure: true, url: '/inside' });
    expect(json(await requestOn(secure, request))).toMatchObject({ secure: true, url: '/inside' });
    expect(connects).toEqual([`${HOST}:443`]);
    expect(mitm.sslServers).toStrictEqual({});
  });

  it('refuses the library’s own path, the per-host HTTPS server dialled at 0.0.0.0', async () => {
    const { mitm, port } = await start();
    const refused = new Promise<unknown>((resolve) => {
      mitm.onConnect((_req, _socket, _head: Buffer, next: ErrorCallback) => {
        try {
          next();
          resolve('the library took the CONNECT');
        } catch (err) {
          resolve(err);
        }
      });
    });
    // Bytes with the CONNECT make the library go on at once, inside `next()`.
    const raw = await tcpClient(port);
    raw.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\nGET / HTTP/1.1\r\n\r\n`);
    expect(await refused).toMatchObject({
      message: expect.stringContaining(
        'unreachable: Keygate answers every CONNECT itself',
      ) as unknown,
    });
  });
});

describe('acceptIntercepted', () => {
  it('closes a socket handed to it before listen or after shutdown', async () => {
    const { mitm } = build();
    const before = await tlsClient(await startTerminator(mitm));
    await closed(before);
    await listening(mitm);
    await mitm.shutdown();
    const after = await tlsClient(await startTerminator(mitm));
    await closed(after);
  });
});

describe('library errors go to the logger, not the console', () => {
  it('a hook’s error: every onError handler runs, and it is logged at debug', async () => {
    const consoleError = vi.spyOn(console, 'error');
    const { mitm, port, logLines } = await start();
    const seen = new Promise<string>((resolve) =>
      mitm.onError((ctx, err, kind) => resolve(`${kind} ${err?.message} ${ctx === null}`)),
    );
    mitm.onConnect((_req, _socket, _head: Buffer, next: ErrorCallback) =>
      next(new Error('detail-only-for-the-log')),
    );
    const raw = await tcpClient(port);
    raw.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`);
    expect(await seen).toBe('ON_CONNECT_ERROR detail-only-for-the-log true');
    expect(logLines).toEqual([
      expect.stringMatching(/debug proxy library error kind=ON_CONNECT_ERROR err=.*detail-only/),
    ]);
    expect(consoleError).not.toHaveBeenCalled();
  });

  it('a socket error (the client resets its CONNECT) is logged at debug', async () => {
    const consoleDebug = vi.spyOn(console, 'debug');
    const { mitm, port, logLines } = await start();
    const held = new Promise<Duplex>((resolve) =>
      mitm.onConnect((_req, socket) => resolve(socket)),
    );
    const raw = await tcpClient(port);
    raw.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`);
    const socket = await held;
    const errored = new Promise<void>((resolve) => socket.once('error', () => resolve()));
    raw.resetAndDestroy();
    await errored;
    expect(logLines).toEqual([
      expect.stringMatching(/debug socket error socket=CLIENT_TO_PROXY_SOCKET code=ECONNRESET/),
    ]);
    expect(consoleDebug).not.toHaveBeenCalled();
  });
});

describe('WebSocket upgrades go to Keygate’s handlers', () => {
  interface Recorded {
    readonly verified: Array<{ url: string | undefined; secure: boolean }>;
    readonly accepted: string[];
  }

  function recording(overrides: Partial<WebSocketHandlers> = {}): {
    handlers: WebSocketHandlers;
    recorded: Recorded;
  } {
    const recorded: Recorded = { verified: [], accepted: [] };
    const handlers: WebSocketHandlers = {
      verify: (req, secure) => {
        recorded.verified.push({ url: req.url, secure });
        return Promise.resolve({ ok: true });
      },
      protocolFor: () => 'chosen.v2',
      accept: (agentSide, req) => {
        recorded.accepted.push(req.url ?? '');
        agentSide.on('message', (data: Buffer) => agentSide.send(`echo:${data.toString()}`));
      },
      ...overrides,
    };
    return { handlers, recorded };
  }

  function echoOnce(ws: WebSocket, text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      ws.once('message', (data: Buffer) => resolve(data.toString()));
      ws.once('error', reject);
      ws.send(text);
    });
  }

  function opened(
    url: string,
    // ws hands the TLS ones to tls.connect; its ClientOptions type does not list them.
    options: WebSocket.ClientOptions & tls.ConnectionOptions,
  ): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ['offered.v1', 'chosen.v2'], {
        perMessageDeflate: true,
        ...options,
      });
      cleanups.push(() => ws.terminate());
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  }

  it('on the proxy port: verified (not secure), answered with the chosen protocol, no compression, relayed', async () => {
    const { handlers, recorded } = recording();
    const { mitm, port } = await start({ webSockets: handlers });
    const libraryHook = vi.fn();
    mitm.onWebSocketConnection(libraryHook);
    const ws = await opened(`ws://127.0.0.1:${port}/socket?x=1`, {});
    expect(ws.protocol).toBe('chosen.v2');
    expect(ws.extensions).toBe('');
    expect(await echoOnce(ws, 'hello')).toBe('echo:hello');
    expect(recorded.verified).toEqual([{ url: '/socket?x=1', secure: false }]);
    expect(recorded.accepted).toEqual(['/socket?x=1']);
    expect(libraryHook).not.toHaveBeenCalled();
  });

  it('inside an intercepted tunnel: verified as secure', async () => {
    const { handlers, recorded } = recording();
    const { mitm } = await start({ webSockets: handlers });
    const terminator = await startTerminator(mitm);
    const ws = await opened(`wss://127.0.0.1:${terminator}/inside`, {
      servername: HOST,
      ca: pki.caPem,
      headers: { host: HOST },
    });
    expect(await echoOnce(ws, 'hi')).toBe('echo:hi');
    expect(recorded.verified).toEqual([{ url: '/inside', secure: true }]);
  });

  it('refused by verify: the status, body and headers it gives', async () => {
    const { handlers, recorded } = recording({
      verify: () =>
        Promise.resolve({
          ok: false,
          status: 407,
          body: 'who are you',
          headers: { 'x-keygate-error': 'keygate_proxy_auth_required' },
        }),
    });
    const { port } = await start({ webSockets: handlers });
    const result = await rawExchange(port, upgradeHead(HOST, 'websocket'));
    expect(result.response?.status).toBe(407);
    expect(result.response?.headers['x-keygate-error']).toEqual(['keygate_proxy_auth_required']);
    expect(result.response?.body).toBe('who are you');
    expect(recorded.accepted).toEqual([]);
  });

  it('a verify that fails: 500, logged as an error', async () => {
    const { handlers, recorded } = recording({
      verify: () => Promise.reject(new Error('verify blew up')),
    });
    const { port, logLines } = await start({ webSockets: handlers });
    const result = await rawExchange(port, upgradeHead(HOST, 'websocket'));
    expect(result.response?.status).toBe(500);
    expect(result.response?.body).toBe('internal error');
    expect(recorded.accepted).toEqual([]);
    expect(logLines).toEqual([
      expect.stringMatching(/error websocket verification failed err=.*verify blew up/),
    ]);
  });

  it('an upgrade to anything else (h2c) is refused by name', async () => {
    const { handlers, recorded } = recording();
    const { port } = await start({ webSockets: handlers });
    const result = await rawExchange(
      port,
      `GET / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade, HTTP2-Settings\r\n` +
        'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    expect(result.response?.status).toBe(400);
    expect(keygateBody(result.response)).toMatchObject({
      error: 'keygate_bad_request',
      message: expect.stringContaining('upgrade to "h2c" is not supported') as unknown,
    });
    expect(recorded.verified).toEqual([]);
  });

  it('an agent that resets while refused throws nothing (no token needed to try)', async () => {
    // Node takes its own 'error' listener off a socket it hands to 'upgrade'.
    const { port } = await start();
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    cleanups.push(() => void process.off('uncaughtException', onUncaught));
    const head =
      `GET http://${HOST}/ HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade, HTTP2-Settings\r\n` +
      'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n';
    for (let i = 0; i < 20; i++) {
      const socket = await tcpClient(port);
      socket.on('error', () => undefined);
      socket.write(head);
      // Half the time before the answer, half after it.
      if (i % 2 === 1) await new Promise((resolve) => socket.once('data', resolve));
      socket.resetAndDestroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(uncaught).toEqual([]);
    expect(await dial(port)).toBe('connected');
  });
});

describe('shutdown', () => {
  it('of a proxy that never listened resolves', async () => {
    const { mitm } = build();
    await mitm.shutdown();
    expect(mitm.address).toBeUndefined();
  });

  it('stops listening and forgets its address', async () => {
    const { mitm, port } = await start();
    await mitm.shutdown();
    expect(mitm.address).toBeUndefined();
    expect(await dial(port)).toBe('ECONNREFUSED');
  });

  it('ends an open CONNECT tunnel instead of waiting for it', async () => {
    const { mitm, port } = await start();
    mitm.onConnect(
      (_req, socket) => void socket.write('HTTP/1.1 200 Connection Established\r\n\r\n'),
    );
    const raw = await tcpClient(port);
    const established = new Promise<void>((resolve) => raw.once('data', () => resolve()));
    raw.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`);
    await established;
    await mitm.shutdown();
    await closed(raw);
  });

  it('ends a request still being answered, on the proxy port and inside a tunnel', async () => {
    const arrived: string[] = [];
    let bothArrived: () => void = () => undefined;
    const both = new Promise<void>((resolve) => (bothArrived = resolve));
    // Never answered.
    const { mitm, port } = await start({
      requests: (req) => {
        arrived.push(req.url ?? '');
        if (arrived.length === 2) bothArrived();
      },
    });
    const plain = await tcpClient(port);
    plain.write(`GET /outer HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    const secure = await tlsClient(await startTerminator(mitm));
    secure.write(`GET /inner HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    await both;
    await mitm.shutdown();
    await Promise.all([closed(plain), closed(secure)]);
  });

  it('ends open WebSockets, on the proxy port and inside a tunnel', async () => {
    const { mitm, port } = await start();
    const terminator = await startTerminator(mitm);
    const outer = new WebSocket(`ws://127.0.0.1:${port}/a`);
    // ws hands these to tls.connect; its ClientOptions type does not list them.
    const tlsOptions: WebSocket.ClientOptions & tls.ConnectionOptions = {
      servername: HOST,
      ca: pki.caPem,
    };
    const inner = new WebSocket(`wss://127.0.0.1:${terminator}/b`, tlsOptions);
    const sockets = [outer, inner];
    cleanups.push(() => sockets.forEach((ws) => ws.terminate()));
    await Promise.all(
      sockets.map(
        (ws) => new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)),
      ),
    );
    const codes = Promise.all(
      sockets.map((ws) => new Promise<number>((resolve) => ws.once('close', resolve))),
    );
    await mitm.shutdown();
    expect(await codes).toEqual([1006, 1006]);
  });

  it('ends an upgrade still being verified (its upstream not yet answering)', async () => {
    let verifying: () => void = () => undefined;
    const verifyCalled = new Promise<void>((resolve) => (verifying = resolve));
    const { mitm, port } = await start({
      webSockets: {
        ...IGNORED_WEBSOCKETS,
        verify: () => {
          verifying();
          return new Promise(() => undefined);
        },
      },
    });
    const raw = await tcpClient(port);
    raw.write(upgradeHead(HOST, 'websocket'));
    await verifyCalled;
    await mitm.shutdown();
    await closed(raw);
  });

  it('close(), the library’s name for it, does the same', async () => {
    const { mitm, port } = await start();
    mitm.onConnect(
      (_req, socket) => void socket.write('HTTP/1.1 200 Connection Established\r\n\r\n'),
    );
    const raw = await tcpClient(port);
    const established = new Promise<void>((resolve) => raw.once('data', () => resolve()));
    raw.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`);
    await established;
    expect(mitm.close()).toBe(mitm);
    await closed(raw);
    expect(await dial(port)).toBe('ECONNREFUSED');
  });
});
