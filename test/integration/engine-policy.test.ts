/**
 * Policy and failure paths through the engine, with a real TLS upstream and a real client
 * (undici). The engine runs in this process so settings can change between requests.
 */
import net from 'node:net';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/engine/controller.js';
import { KeygateEngine } from '../../src/engine/keygate-engine.js';
import { createLogger } from '../../src/engine/log/logger.js';
import { SettingsStore } from '../../src/engine/settings/settings-store.js';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { tempHome } from '../helpers/keygate-process.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { exchange, openInterceptedSocket } from '../helpers/raw-tunnel.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { parseAgentError } from '../helpers/agent-error.js';

const SECRET = 'sk-policy-CANARY-0b1c2d3e';
const USER = 'svc-user';
let pki: TestPki;
let api: FakeUpstream;
let other: FakeUpstream;
let silent: net.Server;
let fixture: EngineFixture;

async function get(url: string, agent = 'default', ca?: string) {
  const dispatcher = new ProxyAgent({
    uri: fixture.proxyUrl(agent),
    requestTls: { ca: ca ?? fixture.engine.ca.certPem },
  });
  try {
    const response = await request(url, { dispatcher });
    const text = await response.body.text();
    return { status: response.statusCode, headers: response.headers, text };
  } finally {
    await dispatcher.close();
  }
}

beforeAll(async () => {
  pki = await createTestPki();
  api = await startFakeUpstream({
    hosts: ['api.example.com', 'basic.example.com', 'query.example.com', 'paths.example.com'],
    pki,
  });
  other = await startFakeUpstream({ hosts: ['other.example.com'], pki });
  // Accepts TCP and never speaks TLS: the connect timeout must cut it.
  silent = net.createServer(() => undefined).listen(0, '127.0.0.1');
  await new Promise((resolve) => silent.once('listening', resolve));
  const silentPort = (silent.address() as net.AddressInfo).port;
  fixture = await startEngine({
    secrets: { API_KEY: SECRET, API_USER: USER },
    mappings: [
      { host: 'api.example.com', ref: 'env://API_KEY', bearer: true },
      { host: 'basic.example.com', ref: 'env://API_KEY', basicUserRef: 'env://API_USER' },
      { host: 'query.example.com', ref: 'env://API_KEY', query: 'key' },
      {
        host: 'paths.example.com',
        ref: 'env://API_KEY',
        header: 'x-token',
        format: 'Token {secret}',
        path: '/v1/**',
      },
      { host: 'missing.example.com', ref: 'env://NOT_SET' },
      { host: 'down.example.com', ref: 'env://API_KEY' },
      { host: 'silent.example.com', ref: 'env://API_KEY' },
    ],
    connectTo: [
      `other.example.com:443:127.0.0.1:${other.port}`,
      `down.example.com:443:127.0.0.1:1`,
      `silent.example.com:443:127.0.0.1:${silentPort}`,
      `:443:127.0.0.1:${api.port}`,
    ],
    upstreamCaFiles: [pki.caPath],
    extra: { timeouts: { connectMs: 500 } },
  });
  await fixture.controller.handlers['agents.add']({ name: 'limited', hosts: ['api.example.com'] });
});

afterAll(async () => {
  await fixture?.stop();
  await api?.close();
  await other?.close();
  silent?.close();
});

describe('injectors end to end', () => {
  it('basic: Authorization: Basic base64(user:password) from two references', async () => {
    expect((await get('https://basic.example.com/x')).status).toBe(200);
    expect(api.received.at(-1)?.headers.authorization).toBe(
      `Basic ${Buffer.from(`${USER}:${SECRET}`).toString('base64')}`,
    );
  });

  it('query: the parameter is set, other parameters kept', async () => {
    expect((await get('https://query.example.com/v1/x?a=1&key=placeholder&b=2')).status).toBe(200);
    expect(api.received.at(-1)?.url).toBe(`/v1/x?a=1&key=${SECRET}&b=2`);
  });

  it('header with a format template, only on paths matching the glob', async () => {
    await get('https://paths.example.com/v1/models');
    expect(api.received.at(-1)?.headers['x-token']).toBe(`Token ${SECRET}`);
    await get('https://paths.example.com/health');
    expect(api.received.at(-1)?.url).toBe('/health');
    expect(api.received.at(-1)?.headers['x-token']).toBeUndefined();
  });
});

describe('agent-facing errors', () => {
  it('502 keygate_secret_unavailable names the mapping and the cause, never a value', async () => {
    const response = await get('https://missing.example.com/v1/x');
    expect(response.status).toBe(502);
    expect(response.headers['x-keygate-error']).toBe('keygate_secret_unavailable');
    const body = parseAgentError(response.text) ?? { error: '', message: '' };
    expect(body.error).toBe('keygate_secret_unavailable');
    expect(body.message).toMatch(/missing\.example\.com/);
    expect(body.message).toMatch(/NOT_SET is not set/);
  });

  it('502 keygate_upstream_unreachable when the upstream refuses', async () => {
    const response = await get('https://down.example.com/v1/x');
    expect(response.status).toBe(502);
    expect(response.headers['x-keygate-error']).toBe('keygate_upstream_unreachable');
    expect(response.text).toMatch(/ECONNREFUSED/);
  });

  it('504 keygate_upstream_timeout when the upstream accepts but never completes TLS', async () => {
    const response = await get('https://silent.example.com/v1/x');
    expect(response.status).toBe(504);
    expect(response.headers['x-keygate-error']).toBe('keygate_upstream_timeout');
  });
});

describe('grants, revocation, deny-unmapped, live settings', () => {
  it('an agent limited with --hosts gets 403 keygate_host_not_granted elsewhere', async () => {
    expect((await get('https://api.example.com/ok', 'limited')).status).toBe(200);
    const dispatcher = new ProxyAgent({
      uri: fixture.proxyUrl('limited'),
      requestTls: { ca: fixture.engine.ca.certPem },
    });
    await expect(request('https://basic.example.com/x', { dispatcher })).rejects.toThrow(/403/);
    await dispatcher.close();
    expect(fixture.engine.activity.recent().at(-1)).toMatchObject({
      outcome: 'denied',
      error: 'keygate_host_not_granted',
      agent: 'limited',
    });
  });

  it('revoking an agent applies to its open connections too', async () => {
    const { token } = await fixture.controller.handlers['agents.add']({ name: 'shortlived' });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const socket = await openInterceptedSocket(
      fixture.proxyUrl('shortlived'),
      'api.example.com',
      fixture.engine.ca.certPem,
    );
    expect(await exchange(socket, 'api.example.com', '/before')).toMatch(/^HTTP\/1\.1 200/);
    await fixture.controller.handlers['agents.remove']({ name: 'shortlived' });
    // Same keep-alive connection, opened while the agent was valid: refused now.
    const after = await exchange(socket, 'api.example.com', '/after');
    socket.destroy();
    expect(after).toMatch(/^HTTP\/1\.1 407/);
    expect(after).toMatch(/keygate_proxy_auth_required/);
    expect(api.received.some((r) => r.url === '/after')).toBe(false);
  });

  it('a mapping added while running takes effect on the next request', async () => {
    // Unmapped: tunneled, so the client sees (and must trust) the upstream's own certificate.
    expect((await get('https://other.example.com/before', 'default', pki.caPem)).status).toBe(200);
    expect(other.received.at(-1)?.headers.authorization).toBeUndefined();
    await fixture.controller.handlers['mappings.upsert']({
      host: 'other.example.com',
      ref: 'env://API_KEY',
    });
    await get('https://other.example.com/after');
    expect(other.received.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    await fixture.controller.handlers['mappings.remove']({ host: 'other.example.com' });
  });

  it('deny-unmapped answers 403 keygate_host_denied instead of tunneling', async () => {
    fixture.engine.store.update((draft) => {
      draft.proxy.denyUnmapped = true;
    });
    try {
      const dispatcher = new ProxyAgent({ uri: fixture.proxyUrl(), requestTls: { ca: pki.caPem } });
      await expect(request('https://other.example.com/x', { dispatcher })).rejects.toThrow(/403/);
      await dispatcher.close();
      expect(fixture.engine.activity.recent().at(-1)).toMatchObject({
        outcome: 'denied',
        error: 'keygate_host_denied',
      });
    } finally {
      fixture.engine.store.update((draft) => {
        draft.proxy.denyUnmapped = false;
      });
    }
  });

  it('proxy.setEnabled closes and reopens the listener', async () => {
    const port = fixture.engine.port;
    await fixture.controller.handlers['proxy.setEnabled']({ enabled: false });
    expect((await fixture.controller.handlers['proxy.status']()).running).toBe(false);
    await expect(
      new Promise((resolve, reject) =>
        net
          .connect(port ?? 0, '127.0.0.1')
          .once('connect', resolve)
          .once('error', reject),
      ),
    ).rejects.toThrow(/ECONNREFUSED/);
    await fixture.controller.handlers['proxy.setEnabled']({ enabled: true });
    expect((await fixture.controller.handlers['proxy.status']()).running).toBe(true);
    expect((await get('https://api.example.com/reopened')).status).toBe(200);
  });
});

describe('activity events', () => {
  it('record outcome, mapping and latency, and never a secret, a token or a query string', async () => {
    await get('https://query.example.com/v1/q?key=placeholder&private=yes');
    const events = fixture.engine.activity.recent();
    const last = events.at(-1);
    expect(last).toMatchObject({
      outcome: 'injected',
      host: 'query.example.com',
      method: 'GET',
      path: '/v1/q',
      status: 200,
      mapping: 'query.example.com',
      agent: 'default',
    });
    expect(typeof last?.latencyMs).toBe('number');
    const text = JSON.stringify(events);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('private=yes');
    for (const agent of fixture.engine.store.get().agents) expect(text).not.toContain(agent.token);
    expect(fixture.logLines.join('\n')).not.toContain(SECRET);
  });
});

describe('proxy.configure', () => {
  async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  const refused = (port: number) =>
    new Promise((resolve, reject) =>
      net.connect(port, '127.0.0.1').once('connect', resolve).once('error', reject),
    );

  it('moves the listener to a new port, refuses a taken or privileged one, and keeps settings in step', async () => {
    const home = tempHome('keygate-configure-');
    const first = await freePort();
    const store = SettingsStore.open(home.home);
    store.update((draft) => {
      draft.proxy.port = first;
    });
    store.close();
    // No `port` option: the settings decide, as in the app and a plain `keygate serve`.
    const engine = await KeygateEngine.start({
      home: home.home,
      sources: [],
      logger: createLogger({ level: 'error', sink: () => undefined }),
    });
    const controller = new Controller({ store: engine.store, home: home.home, engine });
    const moves: (string | undefined)[] = [];
    engine.onListenerChange((address) => moves.push(address));
    const taken = net.createServer();
    try {
      expect(engine.port).toBe(first);
      const second = await freePort();
      const status = await controller.handlers['proxy.configure']({ port: second });
      expect(status).toMatchObject({ running: true, port: second });
      expect(engine.port).toBe(second);
      expect(moves).toEqual([`http://127.0.0.1:${second}`]);
      await expect(refused(first)).rejects.toThrow(/ECONNREFUSED/);

      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const takenPort = (taken.address() as net.AddressInfo).port;
      await expect(controller.handlers['proxy.configure']({ port: takenPort })).rejects.toThrow(
        new RegExp(`could not listen on port ${takenPort}: .*in use`),
      );
      expect(engine.port).toBe(second);
      expect(engine.store.get().proxy.port).toBe(second);

      for (const bad of [80, 0, 70_000, 8790.5]) {
        await expect(controller.handlers['proxy.configure']({ port: bad })).rejects.toThrow(
          /port must be a whole number from 1024 to 65535/,
        );
      }
      expect(engine.store.get().proxy.port).toBe(second);

      const denied = await controller.handlers['proxy.configure']({ denyUnmapped: true });
      expect(denied.denyUnmapped).toBe(true);
      expect(engine.policy.denyUnmapped).toBe(true);
    } finally {
      taken.close();
      await engine.stop();
      home.cleanup();
    }
  });
});
