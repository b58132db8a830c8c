/**
 * WebSocket upgrades (src/engine/proxy/websocket.ts): WebSocketUpgrades.verify takes an upgrade
 * from inside a tunnel Keygate terminated (wss://) or absolute-form on the proxy port (ws://;
 * origin-form is refused), asks admission like every other request, passes the hooks, injects
 * the mapping's credential and dials the upstream *before* the agent gets its 101. Every
 * refusal (admission, hooks, secret, the upstream unreachable, untrusted or silent) is the
 * agent's named error with the usual headers, and recorded; an upstream that refuses the
 * upgrade is passed on as its own answer, scrubbed; an agent that leaves before its 101 leaves
 * nothing open upstream. accept() then relays the agent's side (websocket-relay.ts, tested on
 * its own) with the upstream's subprotocol, scrubbing, and the hooks' observer.
 *
 * The context is real, as CredentialProxy builds it (RuleTable, AgentDirectory, SecretResolver
 * over a source the test controls, Outcomes, SecretInjection, Keygate's upstream pools trusting
 * a per-run test CA), around a real KeygateMitmProxy on 127.0.0.1 whose WebSocket servers call
 * WebSocketUpgrades. The tunnel front is a real TLS server that hands each socket to the
 * intercept server as connect.ts does; upstreams are real node:https / node:http servers with
 * `ws` on them; agents are raw sockets or the `ws` client.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { ActivityLog } from '../../../src/engine/activity/activity-log.js';
import { BudgetExceededError } from '../../../src/engine/budgets/budget-exceeded-error.js';
import { ApprovalDeniedError } from '../../../src/engine/errors.js';
import { createLogger } from '../../../src/engine/log/logger.js';
import type { ProxyPolicy } from '../../../src/engine/proxy/admission.js';
import { AgentDirectory } from '../../../src/engine/proxy/agent-directory.js';
import { UpstreamRoutes } from '../../../src/engine/proxy/connect-to.js';
import { UpstreamDns, type DnsLane } from '../../../src/engine/proxy/dns-lookup.js';
import { KeygateMitmProxy } from '../../../src/engine/proxy/keygate-mitm-proxy.js';
import {
  createProxyContext,
  type CredentialProxyOptions,
  type ProxyContext,
  type ProxyTimeouts,
} from '../../../src/engine/proxy/proxy-context.js';
import type { AdmittedRequest, RequestHooks } from '../../../src/engine/proxy/request-hooks.js';
import { createUpstreamAgents } from '../../../src/engine/proxy/upstream-agents.js';
import { WebSocketUpgrades } from '../../../src/engine/proxy/websocket.js';
import { RuleTable } from '../../../src/engine/rules/rule-table.js';
import type { Secret } from '../../../src/engine/secrets/secret.js';
import { SecretResolver } from '../../../src/engine/secrets/secret-resolver.js';
import { SecretSourceError } from '../../../src/engine/secrets/secret-source.js';
import type { ActivityEvent } from '../../../src/shared/activity.js';
import { PLACEHOLDER_KEY } from '../../../src/shared/presets.js';
import type { Agent, Mapping } from '../../../src/shared/settings-schema.js';
import { parseAgentError } from '../../helpers/agent-error.js';
import { cleanupAfterEach } from '../../helpers/cleanups.js';
import { basicAuth, requestOn, type RawResult } from '../../helpers/raw-http.js';
import { RotatingSource } from '../../helpers/rotating-source.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import { closedPort } from '../../helpers/hostile-upstream.js';

/** Not real keys; assertions test for them with includes(), so a failure never prints one. */
const KEY = 'sk-test-websocket-4d9a1c7e20b6';
const TOKEN = 'websocket-token-0123456789';
const LIMITED_TOKEN = 'websocket-limited-0123456789';
const AT = '2026-12-03T00:00:00.000Z';
const AGENTS: Agent[] = [
  { name: 'tester', token: TOKEN, createdAt: AT },
  { name: 'limited', token: LIMITED_TOKEN, createdAt: AT, hosts: ['elsewhere.example.com'] },
];
const PROXY_AUTH = basicAuth('tester', TOKEN);
const LIMITED_AUTH = basicAuth('limited', LIMITED_TOKEN);
const HOST = 'api.example.com';
const REF = 'test://key';
/** The agent's own Sec-WebSocket-Key (RFC 6455 §1.3's sample): never the upstream's. */
const AGENT_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

const TLS_MAPPING: Mapping = { host: HOST, ref: REF, injector: { type: 'bearer' } };

function loopbackMapping(port: number, extra: Partial<Mapping> = {}): Mapping {
  return {
    host: '127.0.0.1',
    port,
    ref: REF,
    injector: { type: 'bearer' },
    allowPlaintext: true,
    ...extra,
  };
}

let pki: TestPki;
let frontLeaf: { certPem: string; keyPem: string };
let upstreamLeaf: { certPem: string; keyPem: string };
beforeAll(async () => {
  pki = await createTestPki();
  frontLeaf = await pki.issue([HOST]);
  upstreamLeaf = await pki.issue([HOST]);
});

const { cleanups, listen } = cleanupAfterEach();

/** RotatingSource that, while `gate` is set, holds each read until the test opens it. */
class GatedSource extends RotatingSource {
  gate: Promise<void> | undefined;
  waiting = 0;
  override async resolve(): Promise<Secret> {
    if (this.gate) {
      this.waiting++;
      await this.gate;
    }
    return super.resolve();
  }
}

interface Harness {
  readonly context: ProxyContext;
  readonly upgrades: WebSocketUpgrades;
  readonly activity: ActivityLog;
  readonly source: GatedSource;
  readonly seen: AdmittedRequest[];
  readonly logLines: string[];
  /** The proxy port: ws:// absolute-form upgrades. */
  readonly port: number;
  setPolicy(policy: ProxyPolicy): void;
}

function policyOf(mappings: Mapping[], denyUnmapped = false): ProxyPolicy {
  return { rules: new RuleTable(mappings), agents: new AgentDirectory(AGENTS), denyUnmapped };
}

/** The context CredentialProxy would build, its WebSocket servers wired to WebSocketUpgrades. */
async function start(
  mappings: Mapping[],
  options: {
    routes?: string[];
    hooks?: RequestHooks;
    denyUnmapped?: boolean;
    timeouts?: Partial<ProxyTimeouts>;
    dns?: UpstreamDns;
  } = {},
): Promise<Harness> {
  const logLines: string[] = [];
  const logger = createLogger({ level: 'info', sink: (line) => logLines.push(line) });
  const activity = new ActivityLog();
  const source = new GatedSource('test', KEY);
  const resolver = new SecretResolver({ sources: [source], negativeTtlMs: 0, cooldownMs: 0 });
  const routes = UpstreamRoutes.parse(options.routes ?? []);
  const upstream = createUpstreamAgents({
    routes,
    extraCaPem: [pki.caPem],
    ...(options.dns ? { dns: options.dns } : {}),
  });
  let policy = policyOf(mappings, options.denyUnmapped);
  const seen: AdmittedRequest[] = [];
  const hooks: RequestHooks = {
    ...options.hooks,
    beforeSecret: (request, connection) => {
      seen.push(request);
      return options.hooks?.beforeSecret?.(request, connection);
    },
  };
  const wired: { upgrades?: WebSocketUpgrades } = {};
  const mitm = new KeygateMitmProxy({
    logger,
    requests: (_req, res) => res.writeHead(500).end('not a WebSocket upgrade'),
    webSockets: {
      verify: (req, secure) => wired.upgrades!.verify(req, secure),
      protocolFor: (req) => wired.upgrades!.protocolFor(req),
      accept: (agentSide, req) => wired.upgrades!.accept(agentSide, req),
    },
  });
  // The leaf minting is the CONNECT's business; nothing in an upgrade reads it.
  const proxyOptions: Omit<CredentialProxyOptions, 'leaves'> = {
    logger,
    activity,
    resolver,
    routes,
    upstream,
    policy,
    hooks,
    ...(options.timeouts ? { timeouts: options.timeouts } : {}),
  };
  const context = createProxyContext(proxyOptions as CredentialProxyOptions, mitm, () => policy);
  const upgrades = new WebSocketUpgrades(context);
  wired.upgrades = upgrades;
  await new Promise<void>((resolve, reject) =>
    mitm.listen({ host: '127.0.0.1', port: 0 }, (err) => (err ? reject(err) : resolve())),
  );
  cleanups.push(async () => {
    await mitm.shutdown();
    upstream.destroy();
  });
  return {
    context,
    upgrades,
    activity,
    source,
    seen,
    logLines,
    port: mitm.address?.port ?? 0,
    setPolicy: (next) => (policy = next),
  };
}

interface Front {
  readonly port: number;
  /** Keygate's side of each agent connection, in order. */
  readonly sockets: tls.TLSSocket[];
}

/**
 * A terminated tunnel to api.example.com:443, as connect.ts leaves it: TLS with a leaf for that
 * name, the socket remembered as an admitted CONNECT by `tester` (unless `admitted` is false),
 * and handed to the intercept server.
 */
async function tunnelFront(h: Harness, admitted = true): Promise<Front> {
  const agent = h.context.policy().agents.authenticate(PROXY_AUTH)!;
  const sockets: tls.TLSSocket[] = [];
  const server = tls.createServer({ cert: frontLeaf.certPem, key: frontLeaf.keyPem }, (socket) => {
    sockets.push(socket);
    if (admitted) h.context.connections.set(socket, { host: HOST, port: 443, agent });
    h.context.mitm.acceptIntercepted(socket);
  });
  return { port: await listen(server), sockets };
}

interface SeenUpgrade {
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

interface Upstream {
  readonly port: number;
  readonly upgrades: SeenUpgrade[];
  /** The upstream's side of each WebSocket it opened. */
  readonly sockets: WebSocket[];
}

/**
 * A WebSocket upstream that records each upgrade. `answer` may take the socket and answer it
 * itself (return true); otherwise, after `hold` (if any), it opens a WebSocket that greets with
 * the Authorization it got and echoes every message with it.
 */
async function upstreamServer(
  options: {
    secure?: boolean;
    leaf?: { certPem: string; keyPem: string };
    answer?: (req: http.IncomingMessage, socket: Duplex) => boolean;
    hold?: Promise<void>;
    handleProtocols?: (offered: Set<string>) => string | false;
  } = {},
): Promise<Upstream> {
  const upgrades: SeenUpgrade[] = [];
  const sockets: WebSocket[] = [];
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    ...(options.handleProtocols ? { handleProtocols: options.handleProtocols } : {}),
  });
  wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
    sockets.push(ws);
    const credential = req.headers.authorization ?? 'no credential';
    ws.send(`hello ${credential}`);
    ws.on('message', (data: RawData) => ws.send(`echo ${String(data)} with ${credential}`));
  });
  const leaf = options.leaf ?? upstreamLeaf;
  const server = options.secure
    ? https.createServer({ cert: leaf.certPem, key: leaf.keyPem })
    : http.createServer();
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrades.push({ url: req.url ?? '', headers: req.headers });
    socket.on('error', () => undefined);
    if (options.answer?.(req, socket)) return;
    void (options.hold ?? Promise.resolve()).then(() => {
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
  });
  const port = await listen(server);
  cleanups.push(() => {
    for (const ws of sockets) ws.terminate();
    wss.close();
  });
  return { port, upgrades, sockets };
}

/** An upgrade request head; `headers` go after the defaults (name: value, as sent). */
function upgradeRequest(target: string, headers: Record<string, string>): string {
  const lines = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': AGENT_KEY,
    ...headers,
  };
  let head = `GET ${target} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(lines)) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

/** A TLS connection to the tunnel front, as an agent inside its CONNECT. */
function agentTls(front: Front): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: front.port,
      servername: HOST,
      ca: pki.caPem,
    });
    socket.on('error', () => undefined);
    cleanups.push(() => void socket.destroy());
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function agentTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', () => undefined);
    cleanups.push(() => void socket.destroy());
  });
}

/** One upgrade inside the tunnel: the answer's head (a 101 stays open), or a whole refusal. */
async function upgradeInTunnel(
  front: Front,
  target: string,
  headers: Record<string, string> = {},
): Promise<RawResult> {
  return requestOn(await agentTls(front), upgradeRequest(target, { Host: HOST, ...headers }));
}

/** One absolute-form upgrade on the proxy port. */
async function upgradeOnProxyPort(
  port: number,
  target: string,
  headers: Record<string, string> = {},
): Promise<RawResult> {
  const host = /^[a-z]+:\/\//i.test(target) ? new URL(target).host : '127.0.0.1';
  return requestOn(await agentTcp(port), upgradeRequest(target, { Host: host, ...headers }));
}

/**
 * The `ws` client as an agent: through the tunnel front for wss://, or absolute-form on the
 * proxy port for ws:// (the request line rewritten as a proxy client writes it).
 */
function agentClient(
  url: string,
  via: { tunnel: Front } | { proxyPort: number },
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
): WebSocket {
  const socket = new WebSocket(url, options.protocols ?? [], {
    perMessageDeflate: false,
    headers: options.headers ?? {},
    ...('tunnel' in via
      ? {
          createConnection: () =>
            tls.connect({
              host: '127.0.0.1',
              port: via.tunnel.port,
              servername: HOST,
              ca: pki.caPem,
            }),
        }
      : {
          createConnection: () => net.connect(via.proxyPort, '127.0.0.1'),
          finishRequest: (request: http.ClientRequest) => {
            request.path = url;
            request.setHeader('Proxy-Authorization', PROXY_AUTH);
            request.end();
          },
        }),
  });
  socket.on('error', () => undefined);
  cleanups.push(() => socket.terminate());
  return socket;
}

function opened(socket: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`refused with ${res.statusCode}`)),
    );
    socket.once('error', reject);
  });
}

function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (data: RawData) => resolve(String(data))));
}

async function until<T>(read: () => T | undefined, ms = 3_000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error('timed out waiting');
    await sleep(5);
  }
}

function lastRecord(h: Harness): Promise<ActivityEvent> {
  return until(() => h.activity.recent().at(-1));
}

/** Resolves once the peer has hung up: EOF read ('end'; an HTTP server's socket stays half-open) or closed. */
function hungUp(socket: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) resolve();
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
}

function closed(socket: net.Socket): Promise<void> {
  return socket.destroyed
    ? Promise.resolve()
    : new Promise((resolve) => socket.once('close', () => resolve()));
}

/** What every Keygate refusal of an upgrade carries, one of each header. */
function expectNamedRefusal(result: RawResult, status: number, error: string): string {
  const response = result.response;
  expect(response?.status).toBe(status);
  expect(response?.headers['x-keygate-error']).toEqual([error]);
  expect(response?.headers['x-should-retry']).toHaveLength(1);
  expect(response?.headers['cache-control']).toEqual(['no-store']);
  // ws writes its own Content-Type; Keygate's spelling replaces it rather than adding one.
  expect(response?.headers['content-type']).toEqual(['text/plain; charset=utf-8']);
  expect(response?.headers['content-length']).toHaveLength(1);
  const body = parseAgentError(response?.body);
  expect(body?.error).toBe(error);
  return body?.message ?? '';
}

describe('an admitted upgrade inside a tunnel (wss://)', () => {
  it('reaches the upstream with the credential on the normalised path, before the 101; the upstream’s subprotocol and scrubbed messages come back', async () => {
    const up = await upstreamServer({
      secure: true,
      // The last offer it knows, so a proxy that answered with the first would be caught.
      handleProtocols: (offered) => [...offered].reverse().find((p) => p !== 'unknown') ?? false,
    });
    const observed: string[] = [];
    const h = await start([TLS_MAPPING], {
      routes: [`${HOST}:443:127.0.0.1:${up.port}`],
      hooks: {
        onWebSocket: () => ({
          message: (data, isText) =>
            observed.push(`${isText ? 'text' : 'binary'}: ${String(data)}`),
          close: () => observed.push('closed'),
        }),
      },
    });
    const front = await tunnelFront(h);
    const agent = agentClient(
      `wss://${HOST}/v1/a/../realtime?model=x`,
      { tunnel: front },
      {
        protocols: ['chat', 'graphql-ws'],
        headers: { Authorization: `Bearer ${PLACEHOLDER_KEY}` },
      },
    );
    const greeting = nextMessage(agent);
    await opened(agent);
    expect(agent.protocol).toBe('graphql-ws');
    expect(up.sockets[0]?.protocol).toBe('graphql-ws');

    const [upgrade] = up.upgrades;
    expect(upgrade?.url).toBe('/v1/realtime?model=x');
    expect(upgrade?.headers.authorization === `Bearer ${KEY}`).toBe(true);
    expect(upgrade?.headers.host).toBe(HOST);
    expect(upgrade?.headers['sec-websocket-protocol']).toBe('chat,graphql-ws');

    expect(await greeting).toBe(`hello Bearer ${PLACEHOLDER_KEY}`);
    const echo = nextMessage(agent);
    agent.send('ping');
    const echoed = await echo;
    expect(echoed.includes(KEY)).toBe(false);
    expect(echoed).toBe(`echo ping with Bearer ${PLACEHOLDER_KEY}`);
    expect(observed.every((line) => !line.includes(KEY))).toBe(true);
    expect(observed).toEqual([
      `text: hello Bearer ${PLACEHOLDER_KEY}`,
      `text: echo ping with Bearer ${PLACEHOLDER_KEY}`,
    ]);

    expect(h.seen).toEqual([
      {
        agent: 'tester',
        mapping: HOST,
        preset: undefined,
        host: HOST,
        port: 443,
        method: 'GET',
        path: '/v1/realtime',
        shape: 'websocket',
      },
    ]);
    const records = h.activity.recent();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      outcome: 'injected',
      agent: 'tester',
      host: HOST,
      port: 443,
      method: 'GET',
      status: 101,
      mapping: HOST,
    });
    expect(records[0]?.path?.includes('?')).toBe(false);
  });

  it('sends the upstream the agent’s end-to-end headers only: hop-by-hop, proxy and Sec-WebSocket-* are its own', async () => {
    const up = await upstreamServer({ secure: true });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const front = await tunnelFront(h);
    const result = await upgradeInTunnel(front, '/v1/stream', {
      Connection: 'Upgrade, X-Hop',
      'X-Hop': 'for this connection',
      'Keep-Alive': 'timeout=5',
      'Proxy-Authorization': PROXY_AUTH,
      'Proxy-Connection': 'keep-alive',
      TE: 'trailers',
      'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
      'Sec-WebSocket-Protocol': 'chat',
      Origin: 'https://app.example.com',
      Cookie: 'session=kept',
      'X-Kept': 'end to end',
    });
    expect(result.response?.status).toBe(101);
    // The agent asked for compression; Keygate relays uncompressed, and says so.
    expect(result.response?.headers['sec-websocket-extensions']).toBeUndefined();
    expect(result.response?.headers['sec-websocket-protocol']).toEqual(['chat']);
    const headers = up.upgrades[0]?.headers ?? {};
    expect(headers['x-kept']).toBe('end to end');
    expect(headers.origin).toBe('https://app.example.com');
    expect(headers.cookie).toBe('session=kept');
    expect(headers['x-hop']).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
    expect(headers['proxy-authorization']).toBeUndefined();
    expect(headers['proxy-connection']).toBeUndefined();
    expect(headers.te).toBeUndefined();
    expect(headers['sec-websocket-extensions']).toBeUndefined();
    // The upstream handshake is Keygate's own: its own key, its own Connection and Upgrade.
    expect(headers['sec-websocket-key']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(headers['sec-websocket-key']).not.toBe(AGENT_KEY);
    expect(headers.connection).toBe('Upgrade');
    expect(headers.upgrade).toBe('websocket');
    expect(headers['sec-websocket-protocol']).toBe('chat');
    expect(headers.authorization === `Bearer ${KEY}`).toBe(true);
  });

  it('forwards a path no mapping covers without a credential, the hooks never asked', async () => {
    const up = await upstreamServer({ secure: true });
    const h = await start([{ ...TLS_MAPPING, path: '/v1/**' }], {
      routes: [`${HOST}:443:127.0.0.1:${up.port}`],
    });
    const front = await tunnelFront(h);
    // `%2e%2e` is `..` to the upstream: this is /admin, which the mapping does not cover.
    const result = await upgradeInTunnel(front, '/v1/%2e%2e/admin', {
      Authorization: 'Bearer agent-own',
    });
    expect(result.response?.status).toBe(101);
    expect(up.upgrades[0]?.url).toBe('/admin');
    expect(up.upgrades[0]?.headers.authorization).toBe('Bearer agent-own');
    expect(h.seen).toEqual([]);
    expect(h.source.calls).toBe(0);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'forwarded',
      status: 101,
      path: '/admin',
    });
  });

  it('accepts absolute-form naming the tunnel’s own authority, as origin-form', async () => {
    const up = await upstreamServer({ secure: true });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const front = await tunnelFront(h);
    const result = await upgradeInTunnel(front, `wss://${HOST}/v1/socket`);
    expect(result.response?.status).toBe(101);
    expect(up.upgrades[0]?.url).toBe('/v1/socket');
    expect(up.upgrades[0]?.headers.authorization === `Bearer ${KEY}`).toBe(true);
  });
});

describe('an admitted upgrade on the proxy port (ws://)', () => {
  it('injects for a loopback mapping that allows plaintext, sets Host from the target, and relays', async () => {
    const up = await upstreamServer();
    const h = await start([loopbackMapping(up.port)]);
    const agent = agentClient(`ws://127.0.0.1:${up.port}/v1/live?session=1`, {
      proxyPort: h.port,
    });
    const greeting = nextMessage(agent);
    await opened(agent);
    expect(await greeting).toBe(`hello Bearer ${PLACEHOLDER_KEY}`);
    const [upgrade] = up.upgrades;
    expect(upgrade?.url).toBe('/v1/live?session=1');
    expect(upgrade?.headers.host).toBe(`127.0.0.1:${up.port}`);
    expect(upgrade?.headers.authorization === `Bearer ${KEY}`).toBe(true);
    expect(upgrade?.headers['proxy-authorization']).toBeUndefined();
    expect(h.seen.map((r) => [r.shape, r.host, r.port, r.path])).toEqual([
      ['websocket', '127.0.0.1', up.port, '/v1/live'],
    ]);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'injected',
      host: '127.0.0.1',
      port: up.port,
      status: 101,
      path: '/v1/live',
    });
  });

  it('takes an http:// target too (what proxy agents send for ws://), and forwards an unmapped host untouched', async () => {
    const up = await upstreamServer();
    const h = await start([]);
    const result = await upgradeOnProxyPort(h.port, `http://127.0.0.1:${up.port}/open?x=1`, {
      'Proxy-Authorization': PROXY_AUTH,
      Authorization: 'Bearer agent-own',
    });
    expect(result.response?.status).toBe(101);
    expect(up.upgrades[0]?.url).toBe('/open?x=1');
    expect(up.upgrades[0]?.headers.authorization).toBe('Bearer agent-own');
    expect(up.upgrades[0]?.headers['proxy-authorization']).toBeUndefined();
    expect(h.seen).toEqual([]);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'forwarded', status: 101, path: '/open' });
  });
});

describe('an open WebSocket refused by a hook (budgets: one upgrade carries many model calls)', () => {
  it('is closed at the refused message with 1008 and the named error as the reason, recorded; that message is not sent', async () => {
    const up = await upstreamServer();
    let allowed = 1;
    const h = await start([loopbackMapping(up.port)], {
      hooks: {
        beforeWebSocketMessage: () => {
          if (allowed-- <= 0)
            throw new BudgetExceededError({
              agent: 'tester',
              kind: 'tokens',
              limit: 100,
              used: 123,
              retryAfterSeconds: 60,
            });
        },
      },
    });
    const agent = agentClient(`ws://127.0.0.1:${up.port}/v1/live`, { proxyPort: h.port });
    const greeting = nextMessage(agent);
    await opened(agent);
    await greeting;
    const echo = nextMessage(agent);
    agent.send('first');
    expect(await echo).toBe(`echo first with Bearer ${PLACEHOLDER_KEY}`);
    const closing = new Promise<[number, string]>((resolve) =>
      agent.once('close', (code: number, reason: Buffer) => resolve([code, String(reason)])),
    );
    agent.send('second');
    const [code, reason] = await closing;
    expect(code).toBe(1008);
    expect(reason).toMatch(
      /^Keygate: budget exceeded: agent "tester" used 123 of its 100 tokens today/,
    );
    expect(reason.includes(KEY)).toBe(false);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'error',
      status: 429,
      error: 'keygate_budget_exceeded',
      path: '/v1/live',
    });
    expect(up.sockets[0]?.readyState).not.toBe(WebSocket.OPEN);
  });
});

describe('refused by admission: the named error, recorded, nothing sent upstream', () => {
  it('an origin-form upgrade on the proxy port: 400, pointing at CONNECT or ws://', async () => {
    const h = await start([]);
    const result = await upgradeOnProxyPort(h.port, '/socket?token=in-the-query');
    const message = expectNamedRefusal(result, 400, 'keygate_bad_request');
    expect(message).toContain('WebSockets must go through CONNECT or an absolute ws:// URL');
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'denied',
      host: '(origin-form)',
      port: 0,
      method: 'GET',
      status: 400,
      error: 'keygate_bad_request',
      path: '/socket',
    });
  });

  it('a scheme the proxy port does not carry for WebSockets: 400', async () => {
    const h = await start([]);
    const result = await upgradeOnProxyPort(h.port, 'https://127.0.0.1:9/socket', {
      'Proxy-Authorization': PROXY_AUTH,
    });
    const message = expectNamedRefusal(result, 400, 'keygate_bad_request');
    expect(message).toContain('WebSockets must go through CONNECT or an absolute ws:// URL');
    expect(await lastRecord(h)).toMatchObject({ outcome: 'denied', host: '(invalid)', port: 0 });
  });

  it('no token, or a wrong one: 407 with Proxy-Authenticate', async () => {
    const up = await upstreamServer();
    const h = await start([loopbackMapping(up.port)]);
    const target = `ws://127.0.0.1:${up.port}/v1/live`;
    const wrong = basicAuth('tester', 'not-the-token-0123456789');
    const attempts: Array<Record<string, string>> = [{}, { 'Proxy-Authorization': wrong }];
    for (const headers of attempts) {
      const result = await upgradeOnProxyPort(h.port, target, headers);
      expectNamedRefusal(result, 407, 'keygate_proxy_auth_required');
      expect(result.response?.headers['proxy-authenticate']).toEqual(['Basic realm="keygate"']);
    }
    expect(up.upgrades).toHaveLength(0);
    expect(h.source.calls).toBe(0);
    expect(h.activity.recent().map((r) => [r.outcome, r.status, r.host, r.port, r.agent])).toEqual([
      ['denied', 407, '127.0.0.1', up.port, undefined],
      ['denied', 407, '127.0.0.1', up.port, undefined],
    ]);
  });

  it('a mapped host the agent is not granted: 403, with the agent named', async () => {
    const up = await upstreamServer();
    const h = await start([loopbackMapping(up.port)]);
    const result = await upgradeOnProxyPort(h.port, `ws://127.0.0.1:${up.port}/v1/live`, {
      'Proxy-Authorization': LIMITED_AUTH,
    });
    const message = expectNamedRefusal(result, 403, 'keygate_host_not_granted');
    expect(message).toContain('agent "limited" is not granted 127.0.0.1');
    expect(up.upgrades).toHaveLength(0);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'denied',
      agent: 'limited',
      status: 403,
      error: 'keygate_host_not_granted',
    });
  });

  it('an unmapped host under --deny-unmapped: 403', async () => {
    const up = await upstreamServer();
    const h = await start([], { denyUnmapped: true });
    const result = await upgradeOnProxyPort(h.port, `ws://127.0.0.1:${up.port}/open`, {
      'Proxy-Authorization': PROXY_AUTH,
    });
    expectNamedRefusal(result, 403, 'keygate_host_denied');
    expect(up.upgrades).toHaveLength(0);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'denied', error: 'keygate_host_denied' });
  });

  it('plaintext to a host mapped for TLS: 403, pointing at wss://', async () => {
    const h = await start([TLS_MAPPING]);
    const result = await upgradeOnProxyPort(h.port, `ws://${HOST}/v1/realtime`, {
      'Proxy-Authorization': PROXY_AUTH,
    });
    const message = expectNamedRefusal(result, 403, 'keygate_plaintext_refused');
    expect(message).toContain('refusing plaintext ws:// to a mapped host; use wss://');
    expect(h.source.calls).toBe(0);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'denied', host: HOST, port: 80 });
  });

  it('a Host header naming another authority than the target: 421, on the proxy port and in a tunnel', async () => {
    const up = await upstreamServer({ secure: true });
    const h = await start([TLS_MAPPING, loopbackMapping(up.port)], {
      routes: [`${HOST}:443:127.0.0.1:${up.port}`],
    });
    const plain = await upgradeOnProxyPort(h.port, `ws://127.0.0.1:${up.port}/v1/live`, {
      'Proxy-Authorization': PROXY_AUTH,
      Host: 'other.example.com',
    });
    expectNamedRefusal(plain, 421, 'keygate_host_mismatch');
    const front = await tunnelFront(h);
    const inTunnel = await upgradeInTunnel(front, '/v1/live', { Host: 'other.example.com' });
    expectNamedRefusal(inTunnel, 421, 'keygate_host_mismatch');
    const absolute = await upgradeInTunnel(front, 'wss://other.example.com/v1/live');
    const message = expectNamedRefusal(absolute, 421, 'keygate_host_mismatch');
    expect(message).toContain('this tunnel goes to api.example.com:443');
    expect(up.upgrades).toHaveLength(0);
    expect(h.activity.recent().map((r) => [r.outcome, r.status, r.host])).toEqual([
      ['denied', 421, '127.0.0.1'],
      ['denied', 421, HOST],
      ['denied', 421, HOST],
    ]);
  });

  it('an ambiguous path where the path picks the mapping: 400', async () => {
    const up = await upstreamServer({ secure: true });
    const h = await start([{ ...TLS_MAPPING, path: '/v1/**' }], {
      routes: [`${HOST}:443:127.0.0.1:${up.port}`],
    });
    const front = await tunnelFront(h);
    const result = await upgradeInTunnel(front, '/v1/..%2Fadmin');
    const message = expectNamedRefusal(result, 400, 'keygate_bad_request');
    expect(message).toContain('contains an encoded "/"');
    expect(up.upgrades).toHaveLength(0);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'denied', status: 400, host: HOST });
  });

  it('a TLS socket no admitted CONNECT produced: 400', async () => {
    const up = await upstreamServer({ secure: true });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const front = await tunnelFront(h, false);
    const result = await upgradeInTunnel(front, '/v1/live?key=in-the-query');
    const message = expectNamedRefusal(result, 400, 'keygate_bad_request');
    expect(message).toContain('upgrade did not arrive through an authenticated CONNECT');
    expect(up.upgrades).toHaveLength(0);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'denied',
      host: '(unknown)',
      port: 0,
      path: '/v1/live',
    });
  });

  it('a tunnel whose agent was removed since its CONNECT: 407 on the next upgrade', async () => {
    const up = await upstreamServer({ secure: true });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const front = await tunnelFront(h);
    h.setPolicy({
      rules: new RuleTable([TLS_MAPPING]),
      agents: new AgentDirectory(AGENTS.filter((a) => a.name !== 'tester')),
      denyUnmapped: false,
    });
    const result = await upgradeInTunnel(front, '/v1/live');
    expectNamedRefusal(result, 407, 'keygate_proxy_auth_required');
    expect(up.upgrades).toHaveLength(0);
  });

  it('answers in JSON when the agent asked for it', async () => {
    const h = await start([]);
    const result = await upgradeOnProxyPort(h.port, '/socket', { Accept: 'application/json' });
    expect(result.response?.headers['content-type']).toEqual(['application/json; charset=utf-8']);
    expect(JSON.parse(result.response?.body ?? '')).toMatchObject({
      error: { type: 'keygate_error', code: 'keygate_bad_request' },
    });
  });
});

describe('after admission, before the upstream', () => {
  it('a hook that refuses: its status, no secret resolved, nothing sent', async () => {
    const up = await upstreamServer();
    const h = await start([loopbackMapping(up.port)], {
      hooks: {
        beforeSecret: () => {
          throw new ApprovalDeniedError('mapping 127.0.0.1: the user said no');
        },
      },
    });
    const result = await upgradeOnProxyPort(h.port, `ws://127.0.0.1:${up.port}/v1/live`, {
      'Proxy-Authorization': PROXY_AUTH,
    });
    expectNamedRefusal(result, 403, 'keygate_approval_denied');
    expect(h.source.calls).toBe(0);
    expect(up.upgrades).toHaveLength(0);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'denied',
      status: 403,
      error: 'keygate_approval_denied',
    });
  });

  it('a held upgrade goes on once released', async () => {
    const up = await upstreamServer();
    let release!: () => void;
    const h = await start([loopbackMapping(up.port)], {
      hooks: { beforeSecret: () => new Promise<void>((resolve) => (release = resolve)) },
    });
    const answer = upgradeOnProxyPort(h.port, `ws://127.0.0.1:${up.port}/v1/live`, {
      'Proxy-Authorization': PROXY_AUTH,
    });
    await until(() => (h.seen.length > 0 ? true : undefined));
    expect(h.source.calls).toBe(0);
    expect(up.upgrades).toHaveLength(0);
    release();
    expect((await answer).response?.status).toBe(101);
    expect(up.upgrades[0]?.headers.authorization === `Bearer ${KEY}`).toBe(true);
  });

  it('an agent that leaves while held: agent_closed recorded as an error, nothing sent', async () => {
    const up = await upstreamServer();
    const h = await start([loopbackMapping(up.port)], {
      hooks: { beforeSecret: (_r, c) => sleep(60_000, undefined, { signal: c.signal }) },
    });
    const agent = await agentTcp(h.port);
    agent.write(
      upgradeRequest(`ws://127.0.0.1:${up.port}/v1/live`, {
        Host: `127.0.0.1:${up.port}`,
        'Proxy-Authorization': PROXY_AUTH,
      }),
    );
    await until(() => (h.seen.length > 0 ? true : undefined));
    agent.destroy();
    // As for every other request shape (forward.ts): the agent leaving is no policy refusal.
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'error',
      status: 499,
      error: 'keygate_agent_closed',
    });
    expect(h.source.calls).toBe(0);
    expect(up.upgrades).toHaveLength(0);
  });

  it('an agent that leaves while its secret resolves: nothing is sent upstream, agent_closed recorded', async () => {
    const up = await upstreamServer({ secure: true });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    let open!: () => void;
    h.source.gate = new Promise<void>((resolve) => (open = resolve));
    const front = await tunnelFront(h);
    const agent = await agentTls(front);
    agent.write(upgradeRequest('/v1/live', { Host: HOST }));
    await until(() => (h.source.waiting > 0 ? true : undefined));
    agent.destroy();
    await closed(front.sockets[0]!);
    open();
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'error',
      status: 499,
      error: 'keygate_agent_closed',
    });
    expect(h.source.calls).toBe(1);
    expect(up.upgrades).toHaveLength(0);
  });

  it('a source that fails: 502 secret_unavailable naming the mapping, nothing sent', async () => {
    const up = await upstreamServer();
    const h = await start([loopbackMapping(up.port)]);
    h.source.fail = new SecretSourceError('the vault is locked', 'transient');
    const result = await upgradeOnProxyPort(h.port, `ws://127.0.0.1:${up.port}/v1/live`, {
      'Proxy-Authorization': PROXY_AUTH,
    });
    const message = expectNamedRefusal(result, 502, 'keygate_secret_unavailable');
    expect(message).toContain(`mapping 127.0.0.1:${up.port}`);
    expect(message).toContain('the vault is locked');
    expect(up.upgrades).toHaveLength(0);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'error', status: 502 });
  });

  it('a value the injector refuses: 502 secret_unavailable, never echoing it', async () => {
    const up = await upstreamServer();
    const h = await start([loopbackMapping(up.port)]);
    h.source.value = 'sk-test-split\r\nx-injected: header';
    const result = await upgradeOnProxyPort(h.port, `ws://127.0.0.1:${up.port}/v1/live`, {
      'Proxy-Authorization': PROXY_AUTH,
    });
    const message = expectNamedRefusal(result, 502, 'keygate_secret_unavailable');
    expect(message).toContain(`mapping 127.0.0.1:${up.port}: `);
    expect(result.raw.includes('sk-test-split')).toBe(false);
    expect(up.upgrades).toHaveLength(0);
  });
});

/** UpstreamDns that records whose lookup, in which lane, resolved which name; all to 127.0.0.1. */
class RecordingDns extends UpstreamDns {
  readonly lookups: [agent: string, lane: DnsLane, hostname: string][] = [];
  constructor() {
    super({
      systemLookup: (_name, _options, callback) =>
        callback(null, [{ address: '127.0.0.1', family: 4 }]),
    });
  }
  override lookupFor(agent: string, lane: DnsLane): ReturnType<UpstreamDns['lookupFor']> {
    const inner = super.lookupFor(agent, lane);
    return (hostname, options, callback) => {
      this.lookups.push([agent, lane, hostname]);
      inner(hostname, options, callback);
    };
  }
}

describe('the upstream', () => {
  it('is resolved on the agent’s own DNS budget: the mapped lane in a tunnel, the unmapped one for an unmapped ws://', async () => {
    // Shared, one budget for all agents' WebSockets, an agent's flood of upgrades to unknown
    // names would have stalled every other agent's (dns-lookup.ts).
    const dns = new RecordingDns();
    const secure = await upstreamServer({ secure: true });
    const plain = await upstreamServer();
    const h = await start([TLS_MAPPING], {
      routes: [`${HOST}:443:upstream.localhost:${secure.port}`],
      dns,
    });
    const agent = agentClient(`wss://${HOST}/v1/live`, { tunnel: await tunnelFront(h) });
    await opened(agent);
    const result = await upgradeOnProxyPort(h.port, `ws://upstream.localhost:${plain.port}/open`, {
      'Proxy-Authorization': LIMITED_AUTH,
    });
    expect(result.response?.status).toBe(101);
    expect(dns.lookups).toEqual([
      ['tester', 'mapped', 'upstream.localhost'],
      ['limited', 'unmapped', 'upstream.localhost'],
    ]);
  });

  it('refuses the upgrade: its status, body and chosen headers reach the agent, scrubbed, as its own answer', async () => {
    const up = await upstreamServer({
      secure: true,
      answer: (req, socket) => {
        const got = req.headers.authorization ?? '';
        const body = JSON.stringify({ error: 'bad key', got });
        socket.end(
          `HTTP/1.1 401 Bad key ${got}\r\n` +
            'Content-Type: application/json\r\n' +
            `WWW-Authenticate: Bearer realm="api", error="${got}"\r\n` +
            `Location: https://login.example.com/?token=${encodeURIComponent(got)}\r\n` +
            `X-Echo: ${got}\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        return true;
      },
    });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const front = await tunnelFront(h);
    const result = await upgradeInTunnel(front, '/v1/live');
    expect(up.upgrades[0]?.headers.authorization === `Bearer ${KEY}`).toBe(true);
    expect(result.raw.includes(KEY)).toBe(false);
    expect(result.raw.includes(encodeURIComponent(KEY))).toBe(false);
    const response = result.response;
    expect(response?.status).toBe(401);
    expect(JSON.parse(response?.body ?? '')).toEqual({
      error: 'bad key',
      got: `Bearer ${PLACEHOLDER_KEY}`,
    });
    expect(response?.headers['content-type']).toEqual(['application/json']);
    expect(response?.headers['www-authenticate']).toEqual([
      `Bearer realm="api", error="Bearer ${PLACEHOLDER_KEY}"`,
    ]);
    expect(response?.headers.location).toEqual([
      `https://login.example.com/?token=${encodeURIComponent(`Bearer ${PLACEHOLDER_KEY}`)}`,
    ]);
    // Not one Keygate passes on, and not Keygate's own error.
    expect(response?.headers['x-echo']).toBeUndefined();
    expect(response?.headers['x-keygate-error']).toBeUndefined();
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'injected',
      status: 401,
      host: HOST,
      mapping: HOST,
    });
  });

  it('refuses with a long body that echoes the credential across the 64 KiB cut: not one character of it reaches the agent', async () => {
    // The agent pads its target so that the cut lands one byte before the credential's end.
    const up = await upstreamServer({
      secure: true,
      answer: (req, socket) => {
        const body =
          'x'.repeat(60_000) +
          `${req.url}\n${req.headers.authorization ?? ''}\n` +
          'z'.repeat(10_000);
        socket.end(
          'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n' +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        return true;
      },
    });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const prefix = '/v1/live?p=';
    const pad = 65_536 - 60_000 - prefix.length - 1 - 'Bearer '.length - (KEY.length - 1);
    const result = await upgradeInTunnel(await tunnelFront(h), prefix + 'a'.repeat(pad));
    expect(result.response?.status).toBe(404);
    expect(result.raw.includes(KEY.slice(0, 12))).toBe(false);
  });

  it('refuses with a gzip-coded body: withheld, since it cannot be searched', async () => {
    const up = await upstreamServer({
      secure: true,
      answer: (req, socket) => {
        const body = gzipSync(`denied: ${req.headers.authorization ?? ''}`);
        socket.end(
          Buffer.concat([
            Buffer.from(
              'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n' +
                `Content-Length: ${body.length}\r\n\r\n`,
            ),
            body,
          ]),
        );
        return true;
      },
    });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const result = await upgradeInTunnel(await tunnelFront(h), '/v1/live', {
      'Accept-Encoding': 'gzip',
    });
    expect(result.response?.status).toBe(403);
    expect(result.response?.body).toMatch(/Keygate withheld this gzip-coded body/);
    // The upstream was asked for an uncoded answer all the same.
    expect(up.upgrades[0]?.headers['accept-encoding']).toBe('identity');
  });

  it('refuses an unmapped upgrade: passed on unscrubbed, recorded as forwarded', async () => {
    const up = await upstreamServer({
      answer: (_req, socket) => {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nno socket');
        return true;
      },
    });
    const h = await start([]);
    const result = await upgradeOnProxyPort(h.port, `ws://127.0.0.1:${up.port}/missing`, {
      'Proxy-Authorization': PROXY_AUTH,
    });
    expect(result.response?.status).toBe(404);
    expect(result.response?.body).toBe('no socket');
    expect(await lastRecord(h)).toMatchObject({ outcome: 'forwarded', status: 404 });
  });

  it('cannot be reached: 502 upstream_unreachable naming the cause, not a 101', async () => {
    const down = await closedPort();
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${down}`] });
    const front = await tunnelFront(h);
    const result = await upgradeInTunnel(front, '/v1/live');
    const message = expectNamedRefusal(result, 502, 'keygate_upstream_unreachable');
    expect(message).toMatch(/^WebSocket to api\.example\.com:443: .*ECONNREFUSED/);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'error',
      status: 502,
      error: 'keygate_upstream_unreachable',
    });
  });

  it('has a certificate the upstream trust store does not vouch for: 502 upstream_tls', async () => {
    const stranger = await createTestPki();
    const up = await upstreamServer({ secure: true, leaf: await stranger.issue([HOST]) });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const front = await tunnelFront(h);
    const result = await upgradeInTunnel(front, '/v1/live');
    const message = expectNamedRefusal(result, 502, 'keygate_upstream_tls');
    expect(message).toContain("the upstream's TLS certificate did not verify");
    expect(up.upgrades).toHaveLength(0);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'error', error: 'keygate_upstream_tls' });
  });

  it('never answers the upgrade: 504 upstream_timeout once the connect timeout is spent', async () => {
    // Takes the request and says nothing, as a hung server would.
    const up = await upstreamServer({ secure: true, answer: () => true });
    const h = await start([TLS_MAPPING], {
      routes: [`${HOST}:443:127.0.0.1:${up.port}`],
      timeouts: { connectMs: 300 },
    });
    const front = await tunnelFront(h);
    const result = await upgradeInTunnel(front, '/v1/live');
    const message = expectNamedRefusal(result, 504, 'keygate_upstream_timeout');
    expect(message).toContain('WebSocket to api.example.com:443');
    expect(up.upgrades).toHaveLength(1);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'error',
      status: 504,
      error: 'keygate_upstream_timeout',
    });
  });

  it('selects none of the offered subprotocols: 502, as the agent’s own client would fail it', async () => {
    const up = await upstreamServer({ secure: true, handleProtocols: () => false });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const front = await tunnelFront(h);
    const result = await upgradeInTunnel(front, '/v1/live', { 'Sec-WebSocket-Protocol': 'chat' });
    const message = expectNamedRefusal(result, 502, 'keygate_upstream_unreachable');
    expect(message).toBe('WebSocket to api.example.com:443: server sent no subprotocol');
  });

  it('answers 101 with a wrong Sec-WebSocket-Accept: 502 naming it', async () => {
    const up = await upstreamServer({
      secure: true,
      answer: (_req, socket) => {
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n',
        );
        return true;
      },
    });
    const h = await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] });
    const front = await tunnelFront(h);
    const result = await upgradeInTunnel(front, '/v1/live');
    const message = expectNamedRefusal(result, 502, 'keygate_upstream_unreachable');
    expect(message).toContain('Sec-WebSocket-Accept');
  });
});

describe('the agent leaving before its 101', () => {
  it.each([
    ['in a tunnel (wss://), closing its socket', 'tunnel'],
    ['on the proxy port (ws://), half-closing it (FIN)', 'proxy port'],
  ] as const)(
    '%s while the upstream is answering: the dial is given up, its connection closed, 499 recorded',
    async (_label, via) => {
      // The upstream takes the upgrade and never answers; it reads on, so it sees Keygate hang up.
      const held: Duplex[] = [];
      const answer = (_req: http.IncomingMessage, socket: Duplex) => {
        held.push(socket.resume());
        return true;
      };
      const up = await upstreamServer({ secure: via === 'tunnel', answer });
      const h =
        via === 'tunnel'
          ? await start([TLS_MAPPING], { routes: [`${HOST}:443:127.0.0.1:${up.port}`] })
          : await start([]);
      if (via === 'tunnel') {
        const agent = await agentTls(await tunnelFront(h));
        agent.write(upgradeRequest('/v1/live', { Host: HOST }));
        const upstreamSocket = await until(() => held[0]);
        agent.end();
        await hungUp(upstreamSocket);
      } else {
        const agent = await agentTcp(h.port);
        const target = `ws://127.0.0.1:${up.port}/v1/live`;
        agent.write(
          upgradeRequest(target, {
            Host: `127.0.0.1:${up.port}`,
            'Proxy-Authorization': PROXY_AUTH,
          }),
        );
        const upstreamSocket = await until(() => held[0]);
        agent.end();
        await hungUp(upstreamSocket);
      }
      expect(await lastRecord(h)).toMatchObject({
        outcome: 'error',
        status: 499,
        error: 'keygate_agent_closed',
      });
    },
  );
});

describe('accept', () => {
  it('cuts a WebSocket handed over without a verified upstream, and logs it', async () => {
    const h = await start([]);
    const server = http.createServer();
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      wss.handleUpgrade(req, socket, head, (ws) => h.upgrades.accept(ws, req)),
    );
    const port = await listen(server);
    cleanups.push(() => wss.close());
    const agent = new WebSocket(`ws://127.0.0.1:${port}/unverified`);
    agent.on('error', () => undefined);
    cleanups.push(() => agent.terminate());
    const code = await new Promise<number>((resolve) => agent.once('close', resolve));
    expect(code).toBe(1006);
    expect(
      h.logLines.some((line) => line.includes('WebSocket accepted without a verified upstream')),
    ).toBe(true);
    expect(h.activity.recent()).toEqual([]);
  });
});
