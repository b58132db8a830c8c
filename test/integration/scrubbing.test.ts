/**
 * Response scrubbing: an upstream that echoes the injected credential (in a header, a body split
 * across chunks, a compressed body, a WebSocket frame) must never get it to the agent.
 */
import { HttpsProxyAgent } from 'https-proxy-agent';
import { ProxyAgent, request } from 'undici';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { createTestPki } from '../helpers/test-pki.js';
import { parseAgentError } from '../helpers/agent-error.js';

const SECRET = 'sk-echoed-CANARY-abcdef0123456789';
let upstream: FakeUpstream;
let fixture: EngineFixture;

beforeAll(async () => {
  const pki = await createTestPki();
  upstream = await startFakeUpstream({ hosts: ['api.leaky.example'], pki });
  fixture = await startEngine({
    secrets: { LEAKY_KEY: SECRET },
    mappings: [{ host: 'api.leaky.example', ref: 'env://LEAKY_KEY' }],
    connectTo: [`api.leaky.example:443:127.0.0.1:${upstream.port}`],
    upstreamCaFiles: [pki.caPath],
  });
});

afterAll(async () => {
  await fixture?.stop();
  await upstream?.close();
});

async function fetchLeak(query: string, acceptEncoding?: string) {
  const dispatcher = new ProxyAgent({
    uri: fixture.proxyUrl(),
    requestTls: { ca: fixture.engine.ca.certPem },
  });
  try {
    const response = await request(`https://api.leaky.example/leak?${query}`, {
      dispatcher,
      headers: acceptEncoding ? { 'accept-encoding': acceptEncoding } : {},
    });
    const body = Buffer.from(await response.body.arrayBuffer()).toString('utf8');
    return { status: response.statusCode, headers: response.headers, body };
  } finally {
    await dispatcher.close();
  }
}

describe('response scrubbing', () => {
  it('replaces the echoed key with the placeholder in headers and a body split into 3-byte chunks', async () => {
    const { status, headers, body } = await fetchLeak('chunk=3');
    expect(status).toBe(200);
    // The upstream really did receive and echo it.
    expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(headers['x-echo-key']).toBe('Bearer keygate-placeholder');
    expect(body).toBe(
      '{"error":"invalid key Bearer keygate-placeholder","echo":"Bearer keygate-placeholder"}',
    );
    expect(JSON.stringify(headers)).not.toContain(SECRET);
    // Small and plain: scrubbed whole, so it keeps an exact length instead of going out chunked.
    expect(headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(headers['transfer-encoding']).toBeUndefined();
  });

  it('streams a body over 64 KiB (chunked, no length), still catching a key split across chunks', async () => {
    // The first echo starts after `{"pad":"<70,000 x>","error":"invalid key Bearer `: a chunk
    // boundary 5 bytes into it splits the key between two writes.
    const keyAt = '{"pad":"'.length + 70_000 + '","error":"invalid key Bearer '.length;
    const { status, headers, body } = await fetchLeak(`pad=70000&chunk=${keyAt + 5}`);
    expect(status).toBe(200);
    expect(headers['content-length']).toBeUndefined();
    expect(headers['transfer-encoding']).toBe('chunked');
    expect(body).toBe(
      `{"pad":"${'x'.repeat(70_000)}","error":"invalid key Bearer keygate-placeholder","echo":"Bearer keygate-placeholder"}`,
    );
    expect(body).not.toContain(SECRET);
  });

  for (const encoding of ['gzip', 'br', 'deflate']) {
    it(`decodes ${encoding}, scrubs, and sends identity with no stale content-length`, async () => {
      const { headers, body } = await fetchLeak(
        `enc=${encoding}&chunk=5`,
        'gzip, deflate, br, zstd',
      );
      expect(headers['content-encoding']).toBeUndefined();
      expect(headers['content-length']).toBeUndefined();
      expect(body).toContain('invalid key Bearer keygate-placeholder');
      expect(body).not.toContain(SECRET);
      // Only encodings Keygate can decode were offered upstream.
      expect(upstream.received.at(-1)?.headers['accept-encoding']).toBe('gzip, deflate, br');
    });
  }

  it('undoes stacked codings in reverse order (gzip, then br over it)', async () => {
    const { headers, body } = await fetchLeak('enc=gzip%2C%20br&chunk=4', 'gzip, br');
    expect(headers['content-encoding']).toBeUndefined();
    expect(body).toContain('invalid key Bearer keygate-placeholder');
    expect(body).not.toContain(SECRET);
  });

  it('refuses (502) a body in a coding it cannot decode, rather than pass an unsearched body on', async () => {
    const { status, headers, body } = await fetchLeak('enc=zstd', 'zstd');
    expect(status).toBe(502);
    expect(headers['x-keygate-error']).toBe('keygate_upstream_unreachable');
    expect(parseAgentError(body)?.message).toBe(
      'api.leaky.example: the upstream\'s content-encoding "zstd" cannot be decoded to scrub the response; not passed on',
    );
    expect(body + JSON.stringify(headers)).not.toContain(SECRET);
    // zstd was never offered upstream: the agent's own offer was narrowed to nothing decodable.
    expect(upstream.received.at(-1)?.headers['accept-encoding']).toBe('identity');
  });

  it('asks for identity when the agent sent no Accept-Encoding (any coding would be allowed)', async () => {
    await fetchLeak('chunk=50');
    expect(upstream.received.at(-1)?.headers['accept-encoding']).toBe('identity');
  });

  it('scrubs WebSocket frames from the upstream', async () => {
    const agent = new HttpsProxyAgent(fixture.proxyUrl(), { ca: fixture.engine.ca.certPem });
    const socket = new WebSocket('wss://api.leaky.example/ws', {
      agent,
      ca: fixture.engine.ca.certPem,
    });
    const reply = await new Promise<string>((resolve, reject) => {
      socket.once('open', () => socket.send('leak'));
      socket.once('message', (data) => resolve(data.toString()));
      socket.once('error', reject);
    });
    socket.close();
    agent.destroy();
    expect(reply).toBe('your key is Bearer keygate-placeholder');
  });

  it('leaves unmapped responses alone (no scrubbing cost when nothing was injected)', async () => {
    await fixture.controller.handlers['mappings.upsert']({
      host: 'api.leaky.example',
      ref: 'env://LEAKY_KEY',
      path: '/v1/**',
    });
    await fixture.controller.handlers['mappings.remove']({ host: 'api.leaky.example' });
    await fixture.controller.handlers['mappings.upsert']({
      host: 'api.leaky.example',
      ref: 'env://LEAKY_KEY',
      path: '/v1/**',
    });
    const { headers } = await fetchLeak('chunk=50');
    // /leak is outside /v1/**: forwarded without injection, so its length survives.
    expect(headers['content-length']).toBeDefined();
  });
});
