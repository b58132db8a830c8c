/**
 * Upstreams that misbehave on purpose, for the reliability suites: an HTTPS server whose paths
 * hang, reset mid-body or stream forever, a TLS server that answers with garbage instead of
 * HTTP, and a TCP server that accepts and never speaks. Each records what reached it, so a test
 * can tell "nothing was sent" from "sent, then failed".
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { TestPki } from './test-pki.js';

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly remotePort: number;
}

export interface HostileUpstream {
  readonly port: number;
  readonly received: Received[];
  close(): Promise<void>;
}

/**
 * Paths:
 *  - `/sse-forever?gap=MS`: `data: N` events until the client goes away;
 *  - `/reset-mid-body`: promises 100,000 bytes, sends 1,000, then resets the connection;
 *  - `/reset-mid-stream`: chunked SSE, three events, then a reset;
 *  - `/hang`: reads the request and never answers;
 *  - `/reset-mid-small-body`: promises 1,000 bytes, sends 10, then resets the connection;
 *  - `/hang-mid-body`: promises 1,000 bytes, sends 10, then goes silent;
 *  - `/hang-mid-large-body`: promises 100,000 bytes, sends 1,000, then goes silent;
 *  - `/close-without-response`: closes the connection without a byte;
 *  - `/echo-credential`: reflects Authorization / x-api-key in a header and in the body;
 *  - anything else: 200 `{"ok":true}` (never echoes what it received).
 */
export async function startHostileUpstream(options: {
  pki: TestPki;
  hosts: string[];
  expired?: boolean;
}): Promise<HostileUpstream> {
  const { certPem, keyPem } = await options.pki.issue(options.hosts, {
    expired: options.expired === true,
  });
  const received: Received[] = [];
  const open = new Set<http.ServerResponse>();
  // The TCP sockets under the TLS ones, by client port: resetAndDestroy() needs the TCP handle.
  const tcp = new Map<number, net.Socket>();
  const reset = (req: http.IncomingMessage) => {
    const socket = tcp.get(req.socket.remotePort ?? 0);
    if (socket) socket.resetAndDestroy();
    else req.socket.destroy();
  };
  const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    open.add(res);
    res.once('close', () => open.delete(res));
    received.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      remotePort: req.socket.remotePort ?? 0,
    });
    const url = new URL(req.url ?? '/', 'https://upstream.test');
    req.resume();
    switch (url.pathname) {
      case '/sse-forever': {
        const gap = Number(url.searchParams.get('gap') ?? 50);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        let n = 0;
        const timer = setInterval(() => res.write(`data: ${n++}\n\n`), gap);
        res.once('close', () => clearInterval(timer));
        return;
      }
      case '/reset-mid-body':
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': 100_000,
        });
        res.write(Buffer.alloc(1_000, 97), () => setTimeout(() => reset(req), 50));
        return;
      case '/reset-mid-stream':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: 0\n\n');
        res.write('data: 1\n\n');
        res.write('data: 2\n\n', () => setTimeout(() => reset(req), 50));
        return;
      case '/hang':
        return;
      case '/reset-mid-small-body':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1_000 });
        res.write('0123456789', () => setTimeout(() => reset(req), 50));
        return;
      case '/hang-mid-body':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1_000 });
        res.write('0123456789');
        return;
      case '/hang-mid-large-body':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100_000 });
        res.write(Buffer.alloc(1_000, 97));
        return;
      case '/close-without-response':
        req.socket.destroy();
        return;
      case '/echo-credential': {
        const credential = String(req.headers.authorization ?? req.headers['x-api-key'] ?? '');
        const body = JSON.stringify({ error: `invalid credential: ${credential}`, credential });
        res.writeHead(401, {
          'content-type': 'application/json',
          'x-echo-credential': credential,
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
        return;
      }
      default: {
        const body = '{"ok":true}';
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      }
    }
  });
  server.on('clientError', () => undefined);
  server.on('connection', (socket: net.Socket) => {
    const port = socket.remotePort ?? 0;
    tcp.set(port, socket);
    socket.once('close', () => tcp.delete(port));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawServer {
  readonly port: number;
  /** Connections accepted (TLS: handshakes completed). */
  readonly accepted: () => number;
  close(): Promise<void>;
}

/** A TLS server with a valid certificate that answers the first bytes with `reply`, then closes. */
export async function startGarbageTlsServer(options: {
  pki: TestPki;
  hosts: string[];
  reply: string;
}): Promise<RawServer> {
  const { certPem, keyPem } = await options.pki.issue(options.hosts);
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: certPem, key: keyPem }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end(options.reply));
  });
  server.on('tlsClientError', () => undefined);
  return listen(server, sockets, () => accepted);
}

/** Accepts TCP connections and never sends a byte (no TLS handshake, no HTTP). */
export async function startSilentServer(): Promise<RawServer> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  return listen(server, sockets, () => accepted);
}

/** A plain TCP echo server (a tunnel target). */
export async function startEchoServer(): Promise<RawServer> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  return listen(server, sockets, () => accepted);
}

async function listen(
  server: net.Server,
  sockets: Set<net.Socket>,
  accepted: () => number,
): Promise<RawServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (taken from the OS, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
