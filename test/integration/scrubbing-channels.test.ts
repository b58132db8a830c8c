/**
 * Issue 9 §3: every channel by which an upstream could hand the injected key back to the agent
 * goes through the one scrubbing point (src/engine/proxy/response-scrubbing.ts). A raw TLS
 * upstream (test CA) writes the key where no well-behaved server would: the reason phrase, a
 * header name, a transfer-coding the scrubber cannot read, a WebSocket close reason, and the
 * Location / WWW-Authenticate of a refused upgrade. docs/security.md lists these channels.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import WebSocket, { WebSocketServer } from 'ws';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { openInterceptedSocket } from '../helpers/raw-tunnel.js';
import { requestOn } from '../helpers/raw-http.js';
import { createTestPki } from '../helpers/test-pki.js';

const SECRET = 'sk-channel-CANARY-1a2b3c4d';
const RAW_HOST = 'raw.example.test';
const WS_HOST = 'ws.example.test';

let fixture: EngineFixture;
let raw: tls.Server;
let wsServer: https.Server;

/** What the raw upstream writes for each path, given the key it received. */
const ANSWERS: Record<string, (key: string) => Buffer> = {
  '/reason': (key) =>
    Buffer.from(`HTTP/1.1 401 bad key ${key}\r\ncontent-length: 2\r\n\r\nno`, 'latin1'),
  '/header-name': (key) =>
    Buffer.from(`HTTP/1.1 200 OK\r\nx-${key}: 1\r\ncontent-length: 2\r\n\r\nok`, 'latin1'),
  '/header-name-streamed': (key) =>
    Buffer.from(
      `HTTP/1.1 200 OK\r\nx-${key}: 1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n`,
      'latin1',
    ),
  '/gzip-transfer-coding': (key) => {
    const body = zlib.gzipSync(Buffer.from(`{"echo":"${key}"}`));
    return Buffer.concat([
      Buffer.from(
        `HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n${body.length.toString(16)}\r\n`,
      ),
      body,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
  },
};

beforeAll(async () => {
  const pki = await createTestPki();
  const rawCert = await pki.issue([RAW_HOST]);
  raw = tls.createServer({ cert: rawCert.certPem, key: rawCert.keyPem }, (socket) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = head.split(' ')[1] ?? '';
      const key = /authorization: Bearer (\S+)/i.exec(head)?.[1] ?? '';
      head = '';
      socket.write(
        ANSWERS[path]?.(key) ?? Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'),
      );
    });
    socket.on('error', () => undefined);
  });
  const wsCert = await pki.issue([WS_HOST]);
  wsServer = https.createServer({ cert: wsCert.certPem, key: wsCert.keyPem });
  const wss = new WebSocketServer({ noServer: true });
  wsServer.on('upgrade', (req, socket, head) => {
    const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (req.url === '/refuse') {
      socket.end(
        `HTTP/1.1 302 Found ${key}\r\nlocation: https://login.example.test/?key=${key}\r\n` +
          `www-authenticate: Bearer error="${key}"\r\ncontent-length: 0\r\n\r\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.close(4000, `bye ${key}`));
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => wsServer.listen(0, '127.0.0.1', resolve));
  fixture = await startEngine({
    secrets: { KEY: SECRET },
    mappings: [
      { host: RAW_HOST, ref: 'env://KEY', bearer: true },
      { host: WS_HOST, ref: 'env://KEY', bearer: true },
    ],
    connectTo: [
      `${RAW_HOST}:443:127.0.0.1:${(raw.address() as AddressInfo).port}`,
      `${WS_HOST}:443:127.0.0.1:${(wsServer.address() as AddressInfo).port}`,
    ],
    upstreamCaFiles: [pki.caPath],
  });
});

afterAll(async () => {
  await fixture?.stop();
  raw?.close();
  wsServer?.closeAllConnections();
  await new Promise<void>((resolve) => (wsServer ? wsServer.close(() => resolve()) : resolve()));
});

async function fetchRaw(path: string) {
  const socket = await openInterceptedSocket(
    fixture.proxyUrl(),
    RAW_HOST,
    fixture.engine.ca.certPem,
  );
  try {
    return await requestOn(
      socket,
      `GET ${path} HTTP/1.1\r\nHost: ${RAW_HOST}\r\nAuthorization: Bearer keygate-placeholder\r\n\r\n`,
    );
  } finally {
    socket.destroy();
  }
}

function webSocket(path: string) {
  const agent = new HttpsProxyAgent(fixture.proxyUrl(), { ca: fixture.engine.ca.certPem });
  return new WebSocket(`wss://${WS_HOST}${path}`, {
    agent,
    ca: fixture.engine.ca.certPem,
    headers: { Authorization: 'Bearer keygate-placeholder' },
  });
}

describe('issue 9 §3: an echoed key never reaches the agent', () => {
  it('the status line’s reason phrase', async () => {
    const result = await fetchRaw('/reason');
    expect(result.raw).toMatch(/^HTTP\/1\.1 401 /);
    expect(result.raw).toContain('bad key keygate-placeholder');
    expect(result.raw).not.toContain(SECRET);
  });

  it.each(['/header-name', '/header-name-streamed'])(
    'a response header whose name carries the key is dropped (%s)',
    async (path) => {
      const result = await fetchRaw(path);
      expect(result.response?.status).toBe(200);
      expect(result.response?.body).toBe('ok');
      expect(result.raw.toLowerCase()).not.toContain(SECRET.toLowerCase());
    },
  );

  it('a transfer-coding other than chunked fails closed (502), nothing of the body passed on', async () => {
    const result = await fetchRaw('/gzip-transfer-coding');
    expect(result.response?.status).toBe(502);
    expect(result.raw).toContain('transfer-encoding');
    expect(result.raw).not.toContain(SECRET);
    // Not even compressed: the gzip member of the echo is absent too.
    expect(result.raw).not.toContain('\x1f\x8b');
  });

  it('the close reason of a WebSocket', async () => {
    const socket = webSocket('/close');
    const { code, reason } = await new Promise<{ code: number; reason: string }>((resolve) =>
      socket.once('close', (c, r) => resolve({ code: c, reason: r.toString() })),
    );
    expect(code).toBe(4000);
    expect(reason).toBe('bye keygate-placeholder');
  });

  it('the Location and WWW-Authenticate of a refused WebSocket upgrade', async () => {
    const socket = webSocket('/refuse');
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      socket.once('open', () => reject(new Error('the WebSocket opened')));
      socket.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve({ status: res.statusCode, ...res.headers });
      });
      socket.once('error', () => undefined);
    });
    expect(headers.status).toBe(302);
    expect(headers.location).toBe('https://login.example.test/?key=keygate-placeholder');
    expect(headers['www-authenticate']).toBe('Bearer error="keygate-placeholder"');
    expect(JSON.stringify(headers)).not.toContain(SECRET);
  });
});
