/**
 * The proxy context (src/engine/proxy/proxy-context.ts): the default timeouts every proxy starts
 * with (connect and TLS handshake 10 s, an upstream silent for 10 min, the agent's own handshake
 * 10 s; docs/security.md, "Errors the agent sees"), and requestTargetOf, which gives the handlers
 * the request-target exactly as the agent sent it: the library rewrites an absolute-form
 * `http://host/path` to `/path` before any hook runs, on the proxy port and inside a tunnel alike.
 * The KeygateMitmProxy here listens on 127.0.0.1 and is sent raw requests.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { IContext } from 'http-mitm-proxy';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/engine/log/logger.js';
import {
  DEFAULT_TIMEOUTS,
  requestTargetOf,
  type ProxyContext,
} from '../../../src/engine/proxy/proxy-context.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import type { KeygateMitmProxy } from '../../../src/engine/proxy/keygate-mitm-proxy.js';
import { testMitm } from '../../helpers/test-mitm.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('DEFAULT_TIMEOUTS', () => {
  it('gives a dial (TCP and TLS) 10 s, an upstream 10 min of silence, an agent 10 s to handshake', () => {
    expect(DEFAULT_TIMEOUTS).toStrictEqual({
      connectMs: 10_000,
      upstreamIdleMs: 600_000,
      handshakeMs: 10_000,
    });
  });

  it('lets a slow connect be cut by the connect timeout, before the idle timer could fire', () => {
    // The idle timer runs from the moment the request has a socket, connecting or not: were it
    // the shorter, a dial that never completes would never be cut as a connect timeout.
    expect(DEFAULT_TIMEOUTS.connectMs).toBeLessThan(DEFAULT_TIMEOUTS.upstreamIdleMs);
  });
});

interface Seen {
  readonly target: string;
  readonly url: string | undefined;
}

/** A listening KeygateMitmProxy whose onRequest hook reports each request's target and url. */
async function listeningMitm(): Promise<{
  mitm: KeygateMitmProxy;
  context: ProxyContext;
  port: number;
  next: () => Promise<Seen>;
}> {
  const mitm = testMitm(createLogger({ level: 'error', sink: () => undefined }), {
    http: new http.Agent(),
    https: new https.Agent(),
  });
  // requestTargetOf reads only the mitm proxy from the context.
  const partial: Pick<ProxyContext, 'mitm'> = { mitm };
  const context = partial as ProxyContext;
  const waiting: Array<(seen: Seen) => void> = [];
  mitm.onRequest((ctx: IContext) => {
    const req = ctx.clientToProxyRequest;
    waiting.shift()?.({ target: requestTargetOf(context, req), url: req.url });
    ctx.proxyToClientResponse.end('ok');
  });
  await new Promise<void>((resolve, reject) =>
    mitm.listen({ host: '127.0.0.1', port: 0 }, (err) => (err ? reject(err) : resolve())),
  );
  cleanups.push(() => mitm.shutdown());
  return {
    mitm,
    context,
    port: mitm.address!.port,
    next: () => new Promise<Seen>((resolve) => waiting.push(resolve)),
  };
}

/** Writes one raw request on `socket` and waits for the hook to see it. */
function sendRaw(
  socket: net.Socket | tls.TLSSocket,
  requestLine: string,
  host: string,
  next: () => Promise<Seen>,
) {
  const seen = next();
  socket.write(`${requestLine}\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  return seen;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.on('error', reject);
    cleanups.push(() => void socket.destroy());
  });
}

describe('requestTargetOf', () => {
  it('on the proxy port: the absolute-form target as sent, though the library rewrote the url', async () => {
    const { port, next } = await listeningMitm();
    const socket = await connect(port);
    const seen = await sendRaw(
      socket,
      'GET http://plain.example:8080/v1/items?page=2 HTTP/1.1',
      'plain.example:8080',
      next,
    );
    expect(seen.url).toBe('/v1/items?page=2');
    expect(seen.target).toBe('http://plain.example:8080/v1/items?page=2');
  });

  it('on the proxy port: an origin-form target stays what it was, so forward.ts can tell them apart', async () => {
    const { port, next } = await listeningMitm();
    const socket = await connect(port);
    const seen = await sendRaw(socket, 'GET /healthz HTTP/1.1', '127.0.0.1', next);
    expect(seen).toStrictEqual({ target: '/healthz', url: '/healthz' });
  });

  it('inside a terminated tunnel: an absolute-form target reaches admission as sent', async () => {
    const { mitm, next } = await listeningMitm();
    const { certPem, keyPem } = await pki.issue(['api.example.com']);
    // Terminates TLS as tls-termination.ts does, and hands the socket to the intercept server.
    const terminator = tls.createServer({ cert: certPem, key: keyPem }, (socket) =>
      mitm.acceptIntercepted(socket),
    );
    await new Promise<void>((resolve) => terminator.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => terminator.close(() => resolve())));
    const client = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const socket = tls.connect(
        {
          host: '127.0.0.1',
          port: (terminator.address() as net.AddressInfo).port,
          servername: 'api.example.com',
          ca: pki.caPem,
        },
        () => resolve(socket),
      );
      socket.on('error', reject);
      cleanups.push(() => void socket.destroy());
    });
    const seen = await sendRaw(
      client,
      'GET http://elsewhere.example/steal HTTP/1.1',
      'api.example.com',
      next,
    );
    expect(seen.url).toBe('/steal');
    expect(seen.target).toBe('http://elsewhere.example/steal');
  });

  it("falls back to the request's own url for a request the mitm proxy never received", async () => {
    const { context } = await listeningMitm();
    const seen = new Promise<Seen>((resolve) => {
      const server = http.createServer((req, res) => {
        resolve({ target: requestTargetOf(context, req), url: req.url });
        res.end();
      });
      cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        const socket = net.connect({ host: '127.0.0.1', port }, () =>
          socket.write('GET http://other.example/x?y=1 HTTP/1.1\r\nHost: other.example\r\n\r\n'),
        );
        cleanups.push(() => void socket.destroy());
      });
    });
    expect(await seen).toStrictEqual({
      target: 'http://other.example/x?y=1',
      url: 'http://other.example/x?y=1',
    });
  });
});
