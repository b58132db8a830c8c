/**
 * CredentialProxy (src/engine/proxy/credential-proxy.ts): the one listener, built from its
 * options. It listens where it is told and says where (listen, address), closes with its open
 * tunnels, wires the library's events to the request-shape handlers (a CONNECT, a request in an
 * intercepted tunnel, an absolute-form request, a WebSocket upgrade), swaps its policy for the
 * next CONNECT or request (setPolicy), and applies partial timeouts over the defaults. The parts
 * are real: a per-run Keygate CA, a fake upstream with its own test CA, an env:// secret.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ActivityLog } from '../../../src/engine/activity/activity-log.js';
import { createLogger } from '../../../src/engine/log/logger.js';
import { AgentDirectory } from '../../../src/engine/proxy/agent-directory.js';
import {
  CredentialProxy,
  type CredentialProxyOptions,
  type ProxyPolicy,
} from '../../../src/engine/proxy/credential-proxy.js';
import { UpstreamRoutes } from '../../../src/engine/proxy/connect-to.js';
import { createUpstreamAgents } from '../../../src/engine/proxy/upstream-agents.js';
import { RuleTable } from '../../../src/engine/rules/rule-table.js';
import { EnvSecretSource } from '../../../src/engine/secrets/env-source.js';
import { SecretResolver } from '../../../src/engine/secrets/secret-resolver.js';
import {
  loadOrCreateCertificateAuthority,
  type CertificateAuthority,
} from '../../../src/engine/tls/certificate-authority.js';
import { LeafCertificates } from '../../../src/engine/tls/leaf-certificates.js';
import type { Agent, Mapping } from '../../../src/shared/settings-schema.js';
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.js';
import { basicAuth, connectHead, keygateBody, rawExchange } from '../../helpers/raw-http.js';
import { connectEstablished, exchange, openInterceptedSocket } from '../../helpers/raw-tunnel.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';

const AT = '2026-12-03T00:00:00.000Z';
const TOKEN = 'open-token-0123456789abcdefghijklmn';
const OTHER_TOKEN = 'other-token-0123456789abcdefghijklm';
const KEY = 'test-key-not-a-real-secret';
const HOST = 'api.example.com';
const mappings: Mapping[] = [{ host: HOST, ref: 'env://KEY', injector: { type: 'bearer' } }];

function policy(options: { denyUnmapped?: boolean; agents?: Agent[] } = {}): ProxyPolicy {
  return {
    rules: new RuleTable(mappings),
    agents: new AgentDirectory(options.agents ?? [{ name: 'open', token: TOKEN, createdAt: AT }]),
    denyUnmapped: options.denyUnmapped ?? false,
  };
}

let caRoot: string;
let ca: CertificateAuthority;
let leaves: LeafCertificates;
let pki: TestPki;
let upstream: FakeUpstream;

beforeAll(async () => {
  caRoot = mkdtempSync(join(tmpdir(), 'keygate-credential-proxy-'));
  ca = await loadOrCreateCertificateAuthority(join(caRoot, 'ca'));
  leaves = await LeafCertificates.create(ca);
  pki = await createTestPki();
  upstream = await startFakeUpstream({ hosts: [HOST], pki });
});
afterAll(async () => {
  await upstream.close();
  rmSync(caRoot, { recursive: true, force: true });
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Running {
  readonly proxy: CredentialProxy;
  readonly port: number;
  readonly activity: ActivityLog;
  proxyUrl(token?: string): string;
}

function build(
  extra: Partial<CredentialProxyOptions> = {},
): CredentialProxy & { activity: ActivityLog } {
  const routes = UpstreamRoutes.parse([`${HOST}:443:127.0.0.1:${upstream.port}`]);
  const agents = createUpstreamAgents({ routes, extraCaPem: [pki.caPem] });
  const activity = new ActivityLog(50);
  const proxy = new CredentialProxy({
    logger: createLogger({ level: 'error', sink: () => undefined }),
    activity,
    resolver: new SecretResolver({ sources: [new EnvSecretSource({ KEY })] }),
    leaves,
    routes,
    upstream: agents,
    policy: policy(),
    ...extra,
  });
  cleanups.push(async () => {
    await proxy.close();
    agents.destroy();
  });
  return Object.assign(proxy, { activity });
}

async function start(extra: Partial<CredentialProxyOptions> = {}): Promise<Running> {
  const proxy = build(extra);
  const address = await proxy.listen('127.0.0.1', 0);
  return {
    proxy,
    port: address.port,
    activity: proxy.activity,
    proxyUrl: (token = TOKEN) => `http://open:${token}@127.0.0.1:${address.port}`,
  };
}

function client(port: number): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  cleanups.push(() => void socket.destroy());
  return socket;
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) =>
    socket.destroyed ? resolve() : socket.once('close', () => resolve()),
  );
}

/** A plain HTTP server for unmapped, absolute-form and tunnelled traffic. */
async function plainUpstream(): Promise<{ port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.end('plain upstream');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, paths };
}

describe('CredentialProxy: the listener', () => {
  it('has no address before listen; listens where asked and says so; none after close', async () => {
    const proxy = build();
    expect(proxy.address).toBeUndefined();
    const address = await proxy.listen('127.0.0.1', 0);
    expect(address).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
    expect(address.port).toBeGreaterThan(0);
    expect(proxy.address).toEqual(address);
    await proxy.close();
    expect(proxy.address).toBeUndefined();
    const refused = await new Promise<string>((resolve) => {
      const socket = net.connect(address.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('rejects when the port is taken, with the system error', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const { port } = holder.address() as net.AddressInfo;
    await expect(build().listen('127.0.0.1', port)).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });

  it('close() ends an open tunnel instead of waiting for it', async () => {
    const plain = await plainUpstream();
    const running = await start();
    const socket = client(running.port);
    socket.write(connectHead(`127.0.0.1:${plain.port}`, basicAuth('open', TOKEN)));
    await connectEstablished(socket);
    const started = performance.now();
    await running.proxy.close();
    await closed(socket);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('CredentialProxy: every request shape reaches its handler', () => {
  it('a CONNECT to a mapped host is intercepted, and the request inside gets the credential', async () => {
    const running = await start();
    const secure = await openInterceptedSocket(running.proxyUrl(), HOST, ca.certPem);
    cleanups.push(() => void secure.destroy());
    const response = await exchange(secure, HOST, '/v1/models');
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response).toContain('x-upstream: fake');
    const seen = upstream.received.at(-1);
    expect(seen?.url).toBe('/v1/models');
    expect(seen?.headers.authorization === `Bearer ${KEY}`).toBe(true);
    expect(running.activity.recent().at(-1)).toMatchObject({
      outcome: 'injected',
      host: HOST,
      agent: 'open',
      method: 'GET',
      path: '/v1/models',
      status: 200,
    });
  });

  it('an absolute-form request is forwarded, and the proxy port answers /healthz itself', async () => {
    const plain = await plainUpstream();
    const running = await start();
    const forwarded = await rawExchange(
      running.port,
      `GET http://127.0.0.1:${plain.port}/direct?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\n` +
        `Proxy-Authorization: ${basicAuth('open', TOKEN)}\r\n\r\n`,
    );
    expect(forwarded.response?.status).toBe(200);
    expect(forwarded.response?.body).toBe('plain upstream');
    expect(plain.paths).toEqual(['/direct?x=1']);
    const health = await rawExchange(running.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(health.response?.status).toBe(200);
    expect(JSON.parse(health.response?.body ?? '')).toEqual({ ok: true, service: 'keygate' });
  });

  it('a WebSocket upgrade is admitted like any request: without a token, 407', async () => {
    const running = await start();
    const result = await rawExchange(
      running.port,
      'GET ws://127.0.0.1:9/socket HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: Upgrade\r\n' +
        'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(result.response?.status).toBe(407);
    expect(result.response?.headers['x-keygate-error']).toEqual(['keygate_proxy_auth_required']);
    expect(running.activity.recent().at(-1)).toMatchObject({
      outcome: 'denied',
      method: 'GET',
      status: 407,
      error: 'keygate_proxy_auth_required',
    });
  });
});

describe('CredentialProxy: setPolicy', () => {
  it('takes effect for the next CONNECT; a tunnel already open stays open', async () => {
    const plain = await plainUpstream();
    const running = await start();
    const initial = running.proxy.policy;
    expect(initial.denyUnmapped).toBe(false);
    const open = client(running.port);
    open.write(connectHead(`127.0.0.1:${plain.port}`, basicAuth('open', TOKEN)));
    await connectEstablished(open);

    const strict = policy({ denyUnmapped: true });
    running.proxy.setPolicy(strict);
    expect(running.proxy.policy).toBe(strict);
    expect(running.proxy.policy).not.toBe(initial);
    const refused = await rawExchange(
      running.port,
      connectHead(`127.0.0.1:${plain.port}`, basicAuth('open', TOKEN)),
    );
    expect(refused.response?.status).toBe(403);
    expect(keygateBody(refused.response)?.error).toBe('keygate_host_denied');

    // Admitted under the old policy, the open tunnel still carries bytes.
    const answer = new Promise<string>((resolve) => {
      let text = '';
      open.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('plain upstream')) resolve(text);
      });
    });
    open.write(`GET /in-tunnel HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\n\r\n`);
    expect(await answer).toMatch(/^HTTP\/1\.1 200/);
    expect(plain.paths).toEqual(['/in-tunnel']);
  });

  it('a request in an intercepted tunnel is checked against the agents as they are now', async () => {
    const running = await start();
    const secure = await openInterceptedSocket(running.proxyUrl(), HOST, ca.certPem);
    cleanups.push(() => void secure.destroy());
    expect(await exchange(secure, HOST, '/v1/a')).toMatch(/^HTTP\/1\.1 200 /);
    // The agent's token is replaced: the tunnel it opened with the old one is refused.
    running.proxy.setPolicy(
      policy({ agents: [{ name: 'open', token: OTHER_TOKEN, createdAt: AT }] }),
    );
    const response = await exchange(secure, HOST, '/v1/b');
    expect(response).toMatch(/^HTTP\/1\.1 407 /);
    expect(response).toContain('x-keygate-error: keygate_proxy_auth_required');
  });
});

describe('CredentialProxy: options', () => {
  it('partial timeouts are applied over the defaults (handshakeMs alone)', async () => {
    const running = await start({ timeouts: { handshakeMs: 100 } });
    const socket = client(running.port);
    socket.write(connectHead(`${HOST}:443`, basicAuth('open', TOKEN)));
    await connectEstablished(socket);
    const started = performance.now();
    // An agent that never starts TLS is let go at 100 ms, not at the default 10 s.
    await closed(socket);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(90);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('headersTimeoutMs and connectionsCheckingIntervalMs reach the server: slow headers get 408', async () => {
    const running = await start({ headersTimeoutMs: 150, connectionsCheckingIntervalMs: 50 });
    const started = performance.now();
    // Half a request head, never finished.
    const result = await rawExchange(running.port, 'GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: ', {
      timeoutMs: 3_000,
    });
    expect(result.response?.status).toBe(408);
    expect(result.response?.headers['x-keygate-error']).toEqual(['keygate_bad_request']);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
