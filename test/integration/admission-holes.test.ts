/**
 * Issue 9 §2, end to end: what an agent could once get that it was not granted. The engine runs
 * in this process against real upstreams (TLS with the per-run test CA, and a plain loopback
 * one), with raw requests where a real client would have normalised the very bytes under test.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { openInterceptedSocket } from '../helpers/raw-tunnel.js';
import { requestOn } from '../helpers/raw-http.js';
import { createTestPki } from '../helpers/test-pki.js';

const SECRET = 'sk-holes-CANARY-5e6f7a8b';
const HOST = 'paths.example.test';

interface Seen {
  url: string;
  authorization: string | undefined;
  upgrade: boolean;
}

let fixture: EngineFixture;
let tlsServer: https.Server;
let plainServer: http.Server;
let plainPort: number;
const seen: Seen[] = [];

function record(req: http.IncomingMessage, upgrade: boolean) {
  seen.push({ url: req.url ?? '', authorization: req.headers.authorization, upgrade });
}

function attachWebSockets(server: http.Server) {
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    record(req, true);
    wss.handleUpgrade(req, socket, head, (ws) => ws.send('hello'));
  });
}

beforeAll(async () => {
  const pki = await createTestPki();
  const { certPem, keyPem } = await pki.issue([HOST, 'other.example.test']);
  const answer = (req: http.IncomingMessage, res: http.ServerResponse) => {
    record(req, false);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
  };
  tlsServer = https.createServer({ cert: certPem, key: keyPem }, answer);
  attachWebSockets(tlsServer);
  plainServer = http.createServer(answer);
  attachWebSockets(plainServer);
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => plainServer.listen(0, '127.0.0.1', resolve));
  plainPort = (plainServer.address() as AddressInfo).port;
  fixture = await startEngine({
    secrets: { KEY: SECRET },
    mappings: [
      { host: HOST, ref: 'env://KEY', bearer: true, path: '/v1/**' },
      { host: `127.0.0.1:${plainPort}`, ref: 'env://KEY', bearer: true, allowPlaintext: true },
      { host: 'tls-only.example.test', ref: 'env://KEY', bearer: true },
    ],
    connectTo: [`:443:127.0.0.1:${(tlsServer.address() as AddressInfo).port}`],
    upstreamCaFiles: [pki.caPath],
  });
  await fixture.controller.handlers['agents.add']({ name: 'limited', hosts: [HOST] });
});

afterAll(async () => {
  await fixture?.stop();
  for (const server of [tlsServer, plainServer]) {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
});

function get(path: string, host = HOST): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer keygate-placeholder\r\n\r\n`;
}

async function tunnel(agent = 'default'): Promise<tls.TLSSocket> {
  return openInterceptedSocket(fixture.proxyUrl(agent), HOST, fixture.engine.ca.certPem);
}

/** An absolute-form `GET ws://…` upgrade on the proxy port, as a raw request. */
async function plainUpgrade(agent: string, target: string, host: string) {
  const proxy = new URL(fixture.proxyUrl(agent));
  const auth = Buffer.from(`${proxy.username}:${decodeURIComponent(proxy.password)}`).toString(
    'base64',
  );
  const socket = net.connect(Number(proxy.port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const result = await requestOn(
    socket,
    `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: Basic ${auth}\r\n` +
      'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer keygate-placeholder\r\n\r\n',
    { timeoutMs: 3_000 },
  );
  socket.destroy();
  return result;
}

describe('issue 9 §2: nothing an agent was not granted', () => {
  it('a plaintext WebSocket follows grants: 403 for an agent limited with --hosts, no secret sent', async () => {
    const before = seen.length;
    const limited = await plainUpgrade(
      'limited',
      `ws://127.0.0.1:${plainPort}/socket`,
      `127.0.0.1:${plainPort}`,
    );
    expect(limited.raw).toMatch(/^HTTP\/1\.1 403 /);
    expect(limited.raw).toContain('keygate_host_not_granted');
    expect(seen.slice(before)).toEqual([]);
    // The same upgrade by an agent that is granted opens, with the credential.
    const granted = await plainUpgrade(
      'default',
      `ws://127.0.0.1:${plainPort}/socket`,
      `127.0.0.1:${plainPort}`,
    );
    expect(granted.raw).toMatch(/^HTTP\/1\.1 101 /);
    expect(seen.at(-1)).toEqual({
      url: '/socket',
      authorization: `Bearer ${SECRET}`,
      upgrade: true,
    });
  });

  it('a plaintext WebSocket checks Host against the target, and never speaks ws:// to a TLS mapping', async () => {
    const before = seen.length;
    const mismatch = await plainUpgrade(
      'default',
      `ws://127.0.0.1:${plainPort}/socket`,
      'evil.test',
    );
    expect(mismatch.raw).toMatch(/^HTTP\/1\.1 421 /);
    const tlsOnly = await plainUpgrade(
      'default',
      'ws://tls-only.example.test/socket',
      'tls-only.example.test',
    );
    expect(tlsOnly.raw).toMatch(/^HTTP\/1\.1 403 /);
    expect(tlsOnly.raw).toContain('keygate_plaintext_refused');
    expect(seen.slice(before)).toEqual([]);
  });

  it('revoking an agent reaches WebSocket upgrades on its open connection', async () => {
    await fixture.controller.handlers['agents.add']({ name: 'short-lived' });
    const socket = await openInterceptedSocket(
      fixture.proxyUrl('short-lived'),
      HOST,
      fixture.engine.ca.certPem,
    );
    const ok = await requestOn(socket, get('/v1/models'));
    expect(ok.response?.status).toBe(200);
    await fixture.controller.handlers['agents.remove']({ name: 'short-lived' });
    const before = seen.length;
    const upgrade = await requestOn(
      socket,
      `GET /v1/socket HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(upgrade.raw).toMatch(/^HTTP\/1\.1 407 /);
    expect(seen.slice(before)).toEqual([]);
    socket.destroy();
  });

  it('a token rotated by `agent rm X; agent add X` does not revive connections opened with the old one', async () => {
    await fixture.controller.handlers['agents.add']({ name: 'rotated' });
    const socket = await openInterceptedSocket(
      fixture.proxyUrl('rotated'),
      HOST,
      fixture.engine.ca.certPem,
    );
    expect((await requestOn(socket, get('/v1/models'))).response?.status).toBe(200);
    await fixture.controller.handlers['agents.remove']({ name: 'rotated' });
    await fixture.controller.handlers['agents.add']({ name: 'rotated' });
    const before = seen.length;
    const after = await requestOn(socket, get('/v1/models'));
    expect(after.response?.status).toBe(407);
    expect(seen.slice(before)).toEqual([]);
    socket.destroy();
    // The new token works.
    const fresh = await openInterceptedSocket(
      fixture.proxyUrl('rotated'),
      HOST,
      fixture.engine.ca.certPem,
    );
    expect((await requestOn(fresh, get('/v1/models'))).response?.status).toBe(200);
    fresh.destroy();
  });

  it.each([
    ['/v1/../admin', '/admin'],
    ['/v1/%2e%2e/admin', '/admin'],
    ['/v1/./../admin?x=1', '/admin?x=1'],
  ])(
    '--path /v1/** does not inject for %s: the upstream gets %s without the key',
    async (path, normal) => {
      const socket = await tunnel();
      const before = seen.length;
      const result = await requestOn(socket, get(path));
      expect(result.response?.status).toBe(200);
      expect(seen.slice(before)).toEqual([
        { url: normal, authorization: 'Bearer keygate-placeholder', upgrade: false },
      ]);
      socket.destroy();
    },
  );

  it('refuses an encoded "/" where the path picks the mapping, and sends nothing', async () => {
    const socket = await tunnel();
    const before = seen.length;
    const result = await requestOn(socket, get('/v1/..%2fadmin'));
    expect(result.response?.status).toBe(400);
    expect(result.raw).toContain('keygate_bad_request');
    expect(seen.slice(before)).toEqual([]);
    socket.destroy();
  });

  it('an absolute-form target naming another host inside the tunnel is refused (421), not forwarded with the key', async () => {
    const socket = await tunnel();
    const before = seen.length;
    const result = await requestOn(socket, get('https://evil.test/v1/x'));
    expect(result.response?.status).toBe(421);
    expect(seen.slice(before)).toEqual([]);
    // Naming the tunnel's own authority is fine, and goes upstream in origin-form.
    const own = await requestOn(socket, get(`https://${HOST}/v1/x`));
    expect(own.response?.status).toBe(200);
    expect(seen.at(-1)).toEqual({
      url: '/v1/x',
      authorization: `Bearer ${SECRET}`,
      upgrade: false,
    });
    socket.destroy();
  });
});
