/**
 * The undici upstream client (src/engine/proxy/upstream-client.ts) and the answer it hands the
 * proxy (upstream-response.ts), driven directly against real servers on 127.0.0.1: pooled
 * connections per agent and lane, closed by destroy(); TLS verified against the given trust
 * (a per-run test CA) with the name routed by `--connect-to`; the connect deadline named as
 * Keygate's timeout; the head read as Node's IncomingMessage reads one; a body nobody reads
 * holds the upstream back.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { UpstreamRoutes } from '../../../src/engine/proxy/connect-to.js';
import { UpstreamDns } from '../../../src/engine/proxy/dns-lookup.js';
import { undiciAgent, UpstreamClient } from '../../../src/engine/proxy/upstream-client.js';
import { Agent } from 'undici';
import { UpstreamTimeout } from '../../../src/engine/proxy/upstream-errors.js';
import {
  ResponseHandler,
  type UpstreamResponse,
} from '../../../src/engine/proxy/upstream-response.js';
import { trustedRoots } from '../../../src/engine/proxy/upstream-agents.js';
import { cleanupAfterEach } from '../../helpers/cleanups.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});

const { cleanups, listen } = cleanupAfterEach();

function client(routes: string[] = [], connectMs = 2_000): UpstreamClient {
  const upstream = new UpstreamClient({
    routes: UpstreamRoutes.parse(routes),
    secureContext: tls.createSecureContext({ ca: trustedRoots([pki.caPem]) }),
    dns: new UpstreamDns(),
    connectMs,
    idleMs: 60_000,
  });
  cleanups.push(() => upstream.destroy());
  return upstream;
}

/** One request through `dispatcherFor(agent, 'mapped')`; resolves with the answer or the error. */
function send(
  upstream: UpstreamClient,
  origin: string,
  options: { agent?: string; path?: string; read?: boolean } = {},
): Promise<{ response: UpstreamResponse; body: string } | { error: Error }> {
  return new Promise((resolve) => {
    const handler = new ResponseHandler({
      onResponse(response) {
        if (options.read === false) {
          resolve({ response, body: '' });
          return;
        }
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ response, body }));
        response.on('error', (error) => resolve({ error }));
      },
      onError: (error) => resolve({ error }),
    });
    upstream
      .dispatcherFor(options.agent ?? 'tester', 'mapped')
      .dispatch({ origin, method: 'GET', path: options.path ?? '/', headers: {} }, handler);
  });
}

function answered(result: Awaited<ReturnType<typeof send>>): {
  response: UpstreamResponse;
  body: string;
} {
  if ('error' in result) throw new Error(`expected an answer, got ${result.error.message}`);
  return result;
}

describe('UpstreamClient', () => {
  it("loads the very Agent class `undici` exports, from undici's own file", () => {
    expect(undiciAgent()).toBe(Agent);
  });

  it('verifies the name the agent asked for at the address --connect-to routes it to', async () => {
    const { certPem, keyPem } = await pki.issue(['api.example.com']);
    const port = await listen(
      https.createServer({ cert: certPem, key: keyPem }, (req, res) =>
        res.end(`tls to ${req.headers.host}`),
      ),
    );
    const routed = client([
      `api.example.com:443:127.0.0.1:${port}`,
      `other.example.com:443:127.0.0.1:${port}`,
    ]);
    const good = answered(await send(routed, 'https://api.example.com:443'));
    expect(good.body).toBe('tls to api.example.com');
    // Same address, another name: the certificate does not name it, so nothing is sent.
    const wrong = await send(routed, 'https://other.example.com:443');
    expect('error' in wrong && (wrong.error as NodeJS.ErrnoException).code).toBe(
      'ERR_TLS_CERT_ALTNAME_INVALID',
    );
  });

  it('names a dial plus handshake longer than connectMs an UpstreamTimeout (connect)', async () => {
    // Accepts TCP and never says a word: the TLS handshake never completes.
    const mute = await listen(net.createServer((socket) => socket.on('error', () => undefined)));
    const upstream = client([`slow.example.com:443:127.0.0.1:${mute}`], 100);
    const started = performance.now();
    const result = await send(upstream, 'https://slow.example.com:443');
    expect('error' in result && result.error).toBeInstanceOf(UpstreamTimeout);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('pools per agent, and destroy() closes every pooled connection', async () => {
    const open = new Set<net.Socket>();
    const server = http.createServer((req, res) => res.end(String(req.socket.remotePort)));
    server.on('connection', (socket: net.Socket) => {
      open.add(socket);
      socket.once('close', () => open.delete(socket));
    });
    const port = await listen(server);
    const upstream = client();
    const origin = `http://127.0.0.1:${port}`;
    // undici marks a connection free a tick after the body's end; a request from the network
    // always comes later than that, so wait as long between requests.
    const after = async <T>(sent: Promise<T>): Promise<T> => {
      const result = await sent;
      await new Promise((resolve) => setImmediate(resolve));
      return result;
    };
    const first = answered(await after(send(upstream, origin))).body;
    expect(answered(await after(send(upstream, origin))).body).toBe(first);
    expect(answered(await after(send(upstream, origin, { agent: 'other' }))).body).not.toBe(first);
    expect(open.size).toBe(2);
    await upstream.destroy();
    for (let i = 0; i < 100 && open.size > 0; i += 1) await sleep(10);
    expect(open.size).toBe(0);
  });
});

describe('UpstreamResponse', () => {
  it('reads the head: status, reason phrase, and rawHeaders with names as sent and repeats kept', async () => {
    const port = await listen(
      http.createServer((_req, res) => {
        res.writeHead(201, 'Made It', [
          ['X-Repeated', 'one'],
          ['x-repeated', 'two'],
          ['Set-Cookie', 'a=1'],
          ['Set-Cookie', 'b=2'],
          ['Content-Type', 'text/plain'],
        ]);
        res.end('made');
      }),
    );
    const { response, body } = answered(await send(client(), `http://127.0.0.1:${port}`));
    expect([response.statusCode, response.statusMessage, body]).toEqual([201, 'Made It', 'made']);
    expect(response.rawHeaders.slice(0, 10)).toEqual([
      'X-Repeated',
      'one',
      'x-repeated',
      'two',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'Content-Type',
      'text/plain',
    ]);
  });

  it('holds the upstream back while nobody reads the body, and lets it go on when read', async () => {
    let written = 0;
    let finished = false;
    const port = await listen(
      http.createServer((_req, res) => {
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const pump = () => {
          while (written < 64 * 1024 * 1024) {
            written += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end(() => (finished = true));
        };
        pump();
      }),
    );
    const { response } = answered(
      await send(client(), `http://127.0.0.1:${port}`, { read: false }),
    );
    await sleep(300);
    // Socket buffers on both sides plus the stream's high-water mark: a few MiB at most, not 64.
    expect(written).toBeLessThan(16 * 1024 * 1024);
    expect(finished).toBe(false);
    let read = 0;
    response.on('data', (chunk: Buffer) => (read += chunk.length));
    await new Promise<void>((resolve) => response.once('end', resolve));
    expect(read).toBe(64 * 1024 * 1024);
  });

  it('destroying the body cuts the request: its connection is closed, not pooled half-read', async () => {
    let closed = false;
    const server = http.createServer((_req, res) => {
      res.socket?.once('close', () => (closed = true));
      res.write('partial');
    });
    const port = await listen(server);
    const { response } = answered(
      await send(client(), `http://127.0.0.1:${port}`, { read: false }),
    );
    response.destroy();
    for (let i = 0; i < 100 && !closed; i += 1) await sleep(10);
    expect(closed).toBe(true);
  });
});
