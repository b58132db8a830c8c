/**
 * Rotation without downtime (issue 10 §5), through the real proxy: a source whose value changes
 * (the key rotated at its source while Keygate still holds the old one in memory), and a real
 * TLS upstream that accepts only the current key. The agent (undici) sees the upstream's answer
 * to the replay, never the 401; a body too large to keep gets the 401, and the next request the
 * new key.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { createTestPki } from '../helpers/test-pki.js';

const HOST = 'rotating.example.test';
/** What the fake source returns now; the tests change it to "rotate" a key. */
const env: Record<string, string> = {};
/** What the upstream accepts now, per reference. */
const valid = new Map<string, string>();
const received: { path: string; key: string | undefined; body: string }[] = [];

let fixture: EngineFixture;
let upstream: https.Server;

beforeAll(async () => {
  const pki = await createTestPki();
  const { certPem, keyPem } = await pki.issue([HOST]);
  upstream = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const key = req.headers.authorization?.replace(/^Bearer /, '');
      const path = req.url ?? '';
      received.push({ path, key, body: Buffer.concat(chunks).toString() });
      const expected = valid.get(path.split('/')[1] ?? '');
      const ok = key === expected;
      const body = ok ? `ok ${Buffer.concat(chunks).length}` : `{"error":"invalid key ${key}"}`;
      res.writeHead(ok ? 200 : 401, {
        'content-type': 'text/plain',
        'content-length': body.length,
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  for (const name of ['get', 'post', 'big', 'same'])
    env[`KEY_${name.toUpperCase()}`] = `${name}-v1-CANARY`;
  fixture = await startEngine({
    secrets: env,
    mappings: ['get', 'post', 'big', 'same'].map((name) => ({
      host: HOST,
      path: `/${name}/**`,
      ref: `env://KEY_${name.toUpperCase()}`,
      bearer: true,
    })),
    connectTo: [`${HOST}:443:127.0.0.1:${(upstream.address() as AddressInfo).port}`],
    upstreamCaFiles: [pki.caPath],
  });
});

afterAll(async () => {
  await fixture?.stop();
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
});

async function call(path: string, body?: string) {
  const dispatcher = new ProxyAgent({
    uri: fixture.proxyUrl(),
    requestTls: { ca: fixture.engine.ca.certPem },
  });
  try {
    const response = await request(`https://${HOST}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      dispatcher,
      headers: { authorization: 'Bearer keygate-placeholder' },
      ...(body === undefined ? {} : { body }),
    });
    return { status: response.statusCode, text: await response.body.text() };
  } finally {
    await dispatcher.close();
  }
}

/** The first request warms the cache with v1; then the key rotates at its source. */
async function warmThenRotate(name: string) {
  valid.set(name, `${name}-v1-CANARY`);
  expect((await call(`/${name}/x`)).status).toBe(200);
  env[`KEY_${name.toUpperCase()}`] = `${name}-v2-CANARY`;
  valid.set(name, `${name}-v2-CANARY`);
  received.length = 0;
}

describe('rotation without downtime', () => {
  it('a GET refused (401) with the cached key is sent again with the new one; the agent sees 200', async () => {
    await warmThenRotate('get');
    const response = await call('/get/x');
    expect(response).toEqual({ status: 200, text: 'ok 0' });
    expect(received.map((r) => r.key)).toEqual(['get-v1-CANARY', 'get-v2-CANARY']);
    // The next request goes out with the new key at once.
    expect((await call('/get/y')).status).toBe(200);
    expect(received.at(-1)?.key).toBe('get-v2-CANARY');
  });

  it('a small POST is replayed with the same body', async () => {
    await warmThenRotate('post');
    const body = JSON.stringify({ model: 'm', messages: ['hello'] });
    const response = await call('/post/x', body);
    expect(response.status).toBe(200);
    expect(response.text).toBe(`ok ${body.length}`);
    expect(received.map((r) => [r.key, r.body])).toEqual([
      ['post-v1-CANARY', body],
      ['post-v2-CANARY', body],
    ]);
  });

  it('a body too large to keep is not replayed: the 401 passes (scrubbed), the next request has the new key', async () => {
    await warmThenRotate('big');
    const body = 'x'.repeat(100 * 1024);
    const first = await call('/big/x', body);
    expect(first.status).toBe(401);
    expect(first.text).not.toContain('big-v1-CANARY');
    expect(received).toHaveLength(1);
    // The refusal still refreshed the cache: the next request carries v2 and succeeds.
    expect((await call('/big/y', body)).status).toBe(200);
    expect(received.at(-1)?.key).toBe('big-v2-CANARY');
  });

  it('a key that did not change is not replayed: the upstream’s 401 reaches the agent once', async () => {
    valid.set('same', 'same-v1-CANARY');
    expect((await call('/same/w')).status).toBe(200);
    // Revoked upstream, not rotated at the source: refreshing finds the same value.
    valid.set('same', 'something-else');
    const response = await call('/same/x');
    expect(response.status).toBe(401);
    expect(response.text).not.toContain('same-v1-CANARY');
    expect(received.filter((r) => r.path === '/same/x')).toHaveLength(1);
  });
});
