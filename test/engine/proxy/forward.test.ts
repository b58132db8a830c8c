/**
 * Forwarding (src/engine/proxy/forward.ts): handleRequest takes an HTTP request from the proxy
 * port (absolute-form; origin-form gets 400 except `GET /healthz`) or from inside a tunnel
 * Keygate terminated, asks admission, and then decides: an unmapped host gets the agent's
 * request minus hop-by-hop and proxy headers; a mapped one passes the hooks (which may refuse or
 * hold it, body unread), gets its secret warm from the cache or resolved with the body paused,
 * the credential injected and Accept-Encoding narrowed to what the scrubber can decode, and its
 * answer scrubbed. A cached key the upstream refuses (401/403) is refreshed and the request sent
 * again when its source has a new value. An agent that leaves before anything is sent upstream
 * is recorded as such, and nothing is sent.
 *
 * The context is real (RuleTable, AgentDirectory, SecretResolver over a source the test
 * rotates, Outcomes, SecretInjection, Keygate's upstream pools trusting a per-run test CA); the
 * fronts are real node:http and node:https servers on 127.0.0.1 that call handleRequest as
 * CredentialProxy does, and the upstreams are real servers.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActivityLog } from '../../../src/engine/activity/activity-log.js';
import { ApprovalDeniedError } from '../../../src/engine/errors.js';
import { createLogger } from '../../../src/engine/log/logger.js';
import { AgentDirectory } from '../../../src/engine/proxy/agent-directory.js';
import { UpstreamRoutes } from '../../../src/engine/proxy/connect-to.js';
import { handleRequest } from '../../../src/engine/proxy/forward.js';
import {
  createProxyContext,
  type CredentialProxyOptions,
  type ProxyContext,
} from '../../../src/engine/proxy/proxy-context.js';
import type { AdmittedRequest, RequestHooks } from '../../../src/engine/proxy/request-hooks.js';
import { createUpstreamAgents } from '../../../src/engine/proxy/upstream-agents.js';
import { RuleTable } from '../../../src/engine/rules/rule-table.js';
import { SecretResolver } from '../../../src/engine/secrets/secret-resolver.js';
import { SecretSourceError } from '../../../src/engine/secrets/secret-source.js';
import type { ActivityEvent } from '../../../src/shared/activity.js';
import { PLACEHOLDER_KEY } from '../../../src/shared/presets.js';
import type { Agent, Mapping } from '../../../src/shared/settings-schema.js';
import { cleanupAfterEach } from '../../helpers/cleanups.js';
import { RotatingSource } from '../../helpers/rotating-source.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import { testMitm } from '../../helpers/test-mitm.js';

/** Not real keys; assertions test for them with includes(), so a failure never prints one. */
const KEY_V1 = 'sk-test-forward-v1-8c41d2a97e3b';
const KEY_V2 = 'sk-test-forward-v2-5f06b3e1c28d';
const TOKEN = 'forward-token-0123456789';
const PROXY_AUTH = `Basic ${Buffer.from(`tester:${TOKEN}`).toString('base64')}`;
const AGENTS: Agent[] = [{ name: 'tester', token: TOKEN, createdAt: '2026-12-03T00:00:00.000Z' }];
const REF = 'test://key';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});

const { cleanups, listen } = cleanupAfterEach();

interface Harness {
  readonly context: ProxyContext;
  readonly activity: ActivityLog;
  readonly source: RotatingSource;
  readonly resolver: SecretResolver;
  readonly seen: AdmittedRequest[];
}

/** The context CredentialProxy would build for these mappings and hooks. */
function harness(
  mappings: Mapping[],
  options: { routes?: string[]; hooks?: RequestHooks } = {},
): Harness {
  const logger = createLogger({ level: 'error', sink: () => undefined });
  const activity = new ActivityLog();
  const source = new RotatingSource('test', KEY_V1);
  const resolver = new SecretResolver({ sources: [source], negativeTtlMs: 0, cooldownMs: 0 });
  const routes = UpstreamRoutes.parse(options.routes ?? []);
  const upstream = createUpstreamAgents({ routes, extraCaPem: [pki.caPem] });
  cleanups.push(() => upstream.destroy());
  const policy = {
    rules: new RuleTable(mappings),
    agents: new AgentDirectory(AGENTS),
    denyUnmapped: false,
  };
  const seen: AdmittedRequest[] = [];
  const hooks: RequestHooks = {
    ...options.hooks,
    beforeSecret: (request, connection) => {
      seen.push(request);
      return options.hooks?.beforeSecret?.(request, connection);
    },
  };
  const mitm = testMitm(logger);
  // The leaf minting is the CONNECT's business; nothing in forwarding reads it.
  const proxyOptions: Omit<CredentialProxyOptions, 'leaves'> = {
    logger,
    activity,
    resolver,
    routes,
    upstream,
    policy,
    hooks,
  };
  const context = createProxyContext(proxyOptions as CredentialProxyOptions, mitm, () => policy);
  return { context, activity, source, resolver, seen };
}

/** The proxy port: every request goes to handleRequest, not tunnelled. */
function plainFront(h: Harness): Promise<number> {
  return listen(
    http.createServer((req, res) => handleRequest(h.context, req, res, false, performance.now())),
  );
}

/**
 * A terminated tunnel to api.example.com:443: TLS with a leaf for that name, each socket
 * remembered as an admitted CONNECT (unless `admitted` is false), requests handled as tunnelled.
 */
async function tunnelFront(h: Harness, admitted = true): Promise<number> {
  const { certPem, keyPem } = await pki.issue(['api.example.com']);
  const agent = h.context.policy().agents.authenticate(PROXY_AUTH)!;
  const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) =>
    handleRequest(h.context, req, res, true, performance.now()),
  );
  server.on('secureConnection', (socket: TLSSocket) => {
    if (admitted) h.context.connections.set(socket, { host: 'api.example.com', port: 443, agent });
  });
  return listen(server);
}

interface Received {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** Records each request; answers with `answer`, or 200 echoing the Authorization it got. */
async function upstreamServer(
  options: {
    secure?: boolean;
    answer?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  } = {},
): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (options.answer) options.answer(req, res);
      else res.end(`got ${req.headers.authorization ?? 'no credential'}`);
    });
  };
  let server: net.Server;
  if (options.secure) {
    const { certPem, keyPem } = await pki.issue(['api.example.com']);
    server = https.createServer({ cert: certPem, key: keyPem }, handler);
  } else {
    server = http.createServer(handler);
  }
  return { port: await listen(server), received };
}

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function ask(
  port: number,
  options: {
    path: string;
    method?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: string;
    chunked?: boolean;
    tls?: boolean;
  },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      port,
      method: options.method ?? 'GET',
      path: options.path,
      // Absolute-form names its own authority; Node would otherwise send the proxy port's.
      headers: options.path.startsWith('http')
        ? { host: new URL(options.path).host, ...options.headers }
        : options.headers,
      agent: false as const,
    };
    const onResponse = (res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    };
    const req = options.tls
      ? https.request({ ...common, servername: 'api.example.com', ca: pki.caPem }, onResponse)
      : http.request(common, onResponse);
    req.on('error', reject);
    cleanups.push(() => void req.destroy());
    if (options.chunked && options.body !== undefined) {
      req.write(options.body);
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

async function until<T>(read: () => T | undefined, ms = 2_000): Promise<T> {
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

function loopbackMapping(port: number): Mapping {
  return {
    host: '127.0.0.1',
    port,
    ref: REF,
    injector: { type: 'bearer' },
    allowPlaintext: true,
  };
}

const TLS_MAPPING: Mapping = { host: 'api.example.com', ref: REF, injector: { type: 'bearer' } };

/** Sends one raw request line on the proxy port and reads the whole answer. */
function rawAsk(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(request));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    cleanups.push(() => void socket.destroy());
  });
}

describe('origin-form on the proxy port', () => {
  it('answers GET /healthz itself, and records nothing', async () => {
    const h = harness([]);
    const port = await plainFront(h);
    const answer = await ask(port, { path: '/healthz' });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toStrictEqual({ ok: true, service: 'keygate' });
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(h.activity.recent()).toEqual([]);
  });

  it('refuses any other origin-form request, `*` too, with 400 pointing at HTTPS_PROXY', async () => {
    const h = harness([]);
    const port = await plainFront(h);
    const answers = [
      await ask(port, { path: '/healthz', method: 'POST', body: '' }),
      await ask(port, { path: '/v1/models' }),
      await ask(port, { path: '*', method: 'OPTIONS' }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(answer.headers['x-keygate-error']).toBe('keygate_bad_request');
      expect(answer.body).toContain('this port is an HTTP proxy');
      expect(answer.body).toContain('HTTPS_PROXY');
    }
    const records = h.activity.recent();
    expect(records).toHaveLength(3);
    expect(records.map((r) => [r.outcome, r.host, r.port, r.method])).toEqual([
      ['denied', '(origin-form)', 0, 'POST'],
      ['denied', '(origin-form)', 0, 'GET'],
      ['denied', '(origin-form)', 0, 'OPTIONS'],
    ]);
  });
});

describe('absolute-form on the proxy port', () => {
  it("refuses what admission refuses, recording the target's path and never its query", async () => {
    const up = await upstreamServer();
    const h = harness([]);
    const port = await plainFront(h);
    const target = `http://127.0.0.1:${up.port}/v1/private?key=in-the-query`;
    const noToken = await rawAsk(
      port,
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\nConnection: close\r\n\r\n`,
    );
    expect(noToken).toMatch(/^HTTP\/1\.1 407 /);
    expect(noToken).toContain('x-keygate-error: keygate_proxy_auth_required');
    const mismatch = await rawAsk(
      port,
      `GET ${target} HTTP/1.1\r\nHost: other.example\r\nProxy-Authorization: ${PROXY_AUTH}\r\nConnection: close\r\n\r\n`,
    );
    expect(mismatch).toMatch(/^HTTP\/1\.1 421 /);
    expect(up.received).toHaveLength(0);
    const records = h.activity.recent();
    expect(records.map((r) => [r.outcome, r.status, r.path])).toEqual([
      ['denied', 407, '/v1/private'],
      ['denied', 421, '/v1/private'],
    ]);
    expect(JSON.stringify(records).includes('in-the-query')).toBe(false);
  });

  it('forwards an unmapped host as asked, minus hop-by-hop and proxy headers, uncredentialed', async () => {
    const up = await upstreamServer();
    const h = harness([]);
    const port = await plainFront(h);
    const answer = await rawAsk(
      port,
      `GET http://127.0.0.1:${up.port}/v1/open?page=2 HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${up.port}\r\n` +
        `Proxy-Authorization: ${PROXY_AUTH}\r\n` +
        'Proxy-Connection: keep-alive\r\n' +
        'Connection: close, X-Hop\r\n' +
        'X-Hop: for this connection\r\n' +
        'X-Kept: end to end\r\n' +
        'Accept-Encoding: zstd\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('got no credential');
    const [received] = up.received;
    expect(received?.url).toBe('/v1/open?page=2');
    expect(received?.headers.host).toBe(`127.0.0.1:${up.port}`);
    expect(received?.headers['x-kept']).toBe('end to end');
    expect(received?.headers['x-hop']).toBeUndefined();
    expect(received?.headers['proxy-authorization']).toBeUndefined();
    expect(received?.headers['proxy-connection']).toBeUndefined();
    // Nothing injected, so nothing to scrub: the agent's codings stand.
    expect(received?.headers['accept-encoding']).toBe('zstd');
    expect(h.seen).toEqual([]);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'forwarded', status: 200 });
  });

  it('injects the credential for a loopback mapping that allows plaintext, narrows Accept-Encoding and scrubs the echo', async () => {
    const up = await upstreamServer();
    const h = harness([loopbackMapping(up.port)]);
    const port = await plainFront(h);
    const headers = { 'proxy-authorization': PROXY_AUTH, host: `127.0.0.1:${up.port}` };
    const first = await ask(port, {
      path: `http://127.0.0.1:${up.port}/v1/chat`,
      headers: { ...headers, 'accept-encoding': 'gzip, zstd;q=0.9, br' },
    });
    const second = await ask(port, { path: `http://127.0.0.1:${up.port}/v1/chat`, headers });
    expect(up.received.map((r) => r.headers.authorization === `Bearer ${KEY_V1}`)).toEqual([
      true,
      true,
    ]);
    expect(up.received.map((r) => r.headers['accept-encoding'])).toEqual(['gzip, br', 'identity']);
    for (const answer of [first, second]) {
      expect(answer.status).toBe(200);
      expect(answer.body.includes(KEY_V1)).toBe(false);
      expect(answer.body).toBe(`got Bearer ${PLACEHOLDER_KEY}`);
    }
    expect(h.seen.map((r) => [r.shape, r.agent, r.path])).toEqual([
      ['plaintext', 'tester', '/v1/chat'],
      ['plaintext', 'tester', '/v1/chat'],
    ]);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'injected', status: 200 });
  });
});

describe('inside a terminated tunnel', () => {
  it('forwards over verified TLS with the credential, on the normalised path, as an intercepted request', async () => {
    const up = await upstreamServer({ secure: true });
    const h = harness([TLS_MAPPING], { routes: [`api.example.com:443:127.0.0.1:${up.port}`] });
    const port = await tunnelFront(h);
    const answer = await ask(port, {
      tls: true,
      path: '/v1/a/../models?limit=1',
      headers: { host: 'api.example.com' },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.includes(KEY_V1)).toBe(false);
    expect(answer.body).toBe(`got Bearer ${PLACEHOLDER_KEY}`);
    expect(up.received[0]?.url).toBe('/v1/models?limit=1');
    expect(up.received[0]?.headers.authorization === `Bearer ${KEY_V1}`).toBe(true);
    expect(up.received[0]?.headers.host).toBe('api.example.com');
    expect(h.seen.map((r) => [r.shape, r.host, r.port, r.path])).toEqual([
      ['intercepted', 'api.example.com', 443, '/v1/models'],
    ]);
  });

  it('refuses a request on a TLS socket no admitted CONNECT produced, recording its path only', async () => {
    const up = await upstreamServer({ secure: true });
    const h = harness([TLS_MAPPING], { routes: [`api.example.com:443:127.0.0.1:${up.port}`] });
    const port = await tunnelFront(h, false);
    const answer = await ask(port, {
      tls: true,
      path: '/v1/models?key=in-the-query',
      headers: { host: 'api.example.com' },
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('request did not arrive through an authenticated CONNECT');
    expect(up.received).toHaveLength(0);
    expect(h.source.calls).toBe(0);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'denied',
      host: '(unknown)',
      port: 0,
      path: '/v1/models',
    });
  });
});

describe('the hooks, before any secret', () => {
  it('a refusal answers the agent with its own status; no secret is resolved, nothing is sent', async () => {
    const up = await upstreamServer();
    const h = harness([loopbackMapping(up.port)], {
      hooks: {
        beforeSecret: () => {
          throw new ApprovalDeniedError('mapping 127.0.0.1: the user said no');
        },
      },
    });
    const port = await plainFront(h);
    const answer = await ask(port, {
      path: `http://127.0.0.1:${up.port}/v1/chat`,
      headers: { 'proxy-authorization': PROXY_AUTH },
    });
    expect(answer.status).toBe(403);
    expect(answer.headers['x-keygate-error']).toBe('keygate_approval_denied');
    expect(h.source.calls).toBe(0);
    expect(up.received).toHaveLength(0);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'denied', status: 403 });
  });

  it('a held request keeps its body unread until released, then goes up whole', async () => {
    const up = await upstreamServer();
    let release!: () => void;
    const h = harness([loopbackMapping(up.port)], {
      hooks: { beforeSecret: () => new Promise<void>((resolve) => (release = resolve)) },
    });
    const port = await plainFront(h);
    const answer = ask(port, {
      method: 'POST',
      path: `http://127.0.0.1:${up.port}/v1/chat`,
      headers: { 'proxy-authorization': PROXY_AUTH },
      body: '{"input":"held, then sent"}',
    });
    await until(() => (h.seen.length > 0 ? true : undefined));
    await sleep(30);
    expect(h.source.calls).toBe(0);
    expect(up.received).toHaveLength(0);
    release();
    expect((await answer).status).toBe(200);
    expect(up.received[0]?.body).toBe('{"input":"held, then sent"}');
    expect(h.source.calls).toBe(1);
  });

  it('an agent that leaves while held is dropped: nothing is sent, and agent_closed is recorded', async () => {
    const up = await upstreamServer();
    const h = harness([loopbackMapping(up.port)], {
      hooks: { beforeSecret: (_r, c) => sleep(60_000, undefined, { signal: c.signal }) },
    });
    const port = await plainFront(h);
    const agent = net.connect({ host: '127.0.0.1', port }, () =>
      agent.write(
        `GET http://127.0.0.1:${up.port}/v1/chat HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\n` +
          `Proxy-Authorization: ${PROXY_AUTH}\r\n\r\n`,
      ),
    );
    agent.on('error', () => undefined);
    cleanups.push(() => void agent.destroy());
    await until(() => (h.seen.length > 0 ? true : undefined));
    agent.destroy();
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'error',
      status: 499,
      error: 'keygate_agent_closed',
    });
    expect(h.source.calls).toBe(0);
    expect(up.received).toHaveLength(0);
  });
});

describe('the secret', () => {
  it('resolves a cold secret with the body paused, then serves the next request from the cache', async () => {
    const up = await upstreamServer();
    const h = harness([loopbackMapping(up.port)]);
    h.source.delayMs = 50;
    const port = await plainFront(h);
    const request = {
      method: 'POST',
      path: `http://127.0.0.1:${up.port}/v1/chat`,
      headers: { 'proxy-authorization': PROXY_AUTH },
    };
    const cold = await ask(port, { ...request, body: 'streamed while cold', chunked: true });
    const warm = await ask(port, { ...request, body: 'second' });
    expect([cold.status, warm.status]).toEqual([200, 200]);
    expect(up.received.map((r) => r.body)).toEqual(['streamed while cold', 'second']);
    expect(up.received.every((r) => r.headers.authorization === `Bearer ${KEY_V1}`)).toBe(true);
    expect(h.source.calls).toBe(1);
  });

  it('answers 502 secret_unavailable naming the mapping when the source fails; nothing is sent', async () => {
    const up = await upstreamServer();
    const h = harness([loopbackMapping(up.port)]);
    h.source.fail = new SecretSourceError('the vault is locked', 'transient');
    const port = await plainFront(h);
    const answer = await ask(port, {
      path: `http://127.0.0.1:${up.port}/v1/chat`,
      headers: { 'proxy-authorization': PROXY_AUTH },
    });
    expect(answer.status).toBe(502);
    expect(answer.headers['x-keygate-error']).toBe('keygate_secret_unavailable');
    expect(answer.body).toContain(`mapping 127.0.0.1:${up.port}`);
    expect(answer.body).toContain('the vault is locked');
    expect(up.received).toHaveLength(0);
  });

  it('answers 502 secret_unavailable when the injector refuses the value, never echoing it', async () => {
    const up = await upstreamServer();
    const h = harness([loopbackMapping(up.port)]);
    const unsafe = 'sk-test-split\r\nx-injected: header';
    h.source.value = unsafe;
    const port = await plainFront(h);
    const answer = await ask(port, {
      path: `http://127.0.0.1:${up.port}/v1/chat`,
      headers: { 'proxy-authorization': PROXY_AUTH },
    });
    expect(answer.status).toBe(502);
    expect(answer.headers['x-keygate-error']).toBe('keygate_secret_unavailable');
    expect(answer.body).toContain(`mapping 127.0.0.1:${up.port}: `);
    expect(answer.body.includes('sk-test-split')).toBe(false);
    expect(up.received).toHaveLength(0);
  });

  it('sends nothing when the agent leaves while its secret resolves, and records agent_closed', async () => {
    const up = await upstreamServer();
    const h = harness([loopbackMapping(up.port)]);
    h.source.delayMs = 80;
    const port = await plainFront(h);
    const agent = net.connect({ host: '127.0.0.1', port }, () =>
      agent.write(
        `GET http://127.0.0.1:${up.port}/v1/chat HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\n` +
          `Proxy-Authorization: ${PROXY_AUTH}\r\n\r\n`,
      ),
    );
    agent.on('error', () => undefined);
    cleanups.push(() => void agent.destroy());
    await until(() => (h.source.calls > 0 ? true : undefined));
    agent.destroy();
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'error',
      status: 499,
      error: 'keygate_agent_closed',
    });
    await sleep(20);
    expect(up.received).toHaveLength(0);
  });
});

describe('a cached key the upstream refuses', () => {
  /** 401 unless the key is KEY_V2; every answer echoes both keys, as a careless error page might. */
  function rotatingUpstream() {
    return upstreamServer({
      answer: (req, res) => {
        res.statusCode = req.headers.authorization === `Bearer ${KEY_V2}` ? 200 : 401;
        res.end(`status ${res.statusCode}: got ${req.headers.authorization}; old ${KEY_V1}`);
      },
    });
  }

  async function warmed(port: number): Promise<Harness> {
    const h = harness([loopbackMapping(port)]);
    await h.resolver.resolve(REF);
    expect(h.source.calls).toBe(1);
    return h;
  }

  it('is refreshed and the request sent again with its body; the agent sees only the second answer', async () => {
    const up = await rotatingUpstream();
    const h = await warmed(up.port);
    h.source.value = KEY_V2;
    const port = await plainFront(h);
    const answer = await ask(port, {
      method: 'POST',
      path: `http://127.0.0.1:${up.port}/v1/chat`,
      headers: { 'proxy-authorization': PROXY_AUTH },
      body: '{"input":"sent twice"}',
    });
    expect(answer.status).toBe(200);
    // Both the refused key and the fresh one are scrubbed from the answer.
    expect(answer.body.includes(KEY_V1) || answer.body.includes(KEY_V2)).toBe(false);
    expect(answer.body).toBe(`status 200: got Bearer ${PLACEHOLDER_KEY}; old ${PLACEHOLDER_KEY}`);
    expect(up.received.map((r) => r.body)).toEqual([
      '{"input":"sent twice"}',
      '{"input":"sent twice"}',
    ]);
    expect(
      up.received.map((r) => [
        r.headers.authorization === `Bearer ${KEY_V1}`,
        r.headers.authorization === `Bearer ${KEY_V2}`,
      ]),
    ).toEqual([
      [true, false],
      [false, true],
    ]);
    expect(h.source.calls).toBe(2);
    // Both upstream requests are in activity: the refused one first.
    const records = await until(() =>
      h.activity.recent().length === 2 ? h.activity.recent() : undefined,
    );
    expect(records.map((r) => [r.outcome, r.status, r.path])).toEqual([
      ['injected', 401, '/v1/chat'],
      ['injected', 200, '/v1/chat'],
    ]);
  });

  it('passes the refusal on, scrubbed, when the source still has the same key', async () => {
    const up = await rotatingUpstream();
    const h = await warmed(up.port);
    const port = await plainFront(h);
    const answer = await ask(port, {
      path: `http://127.0.0.1:${up.port}/v1/chat`,
      headers: { 'proxy-authorization': PROXY_AUTH },
    });
    expect(answer.status).toBe(401);
    expect(answer.body.includes(KEY_V1)).toBe(false);
    expect(up.received).toHaveLength(1);
    expect(h.source.calls).toBe(2);
  });

  it('is not sent again when its body was streamed, but the next request gets the fresh key', async () => {
    const up = await rotatingUpstream();
    const h = await warmed(up.port);
    h.source.value = KEY_V2;
    const port = await plainFront(h);
    const request = {
      method: 'POST',
      path: `http://127.0.0.1:${up.port}/v1/chat`,
      headers: { 'proxy-authorization': PROXY_AUTH },
    };
    const streamed = await ask(port, { ...request, body: 'chunked upload', chunked: true });
    expect(streamed.status).toBe(401);
    expect(up.received).toHaveLength(1);
    await until(() => (h.source.calls === 2 ? true : undefined));
    const next = await ask(port, { ...request, body: 'again' });
    expect(next.status).toBe(200);
    expect(up.received.map((r) => r.headers.authorization === `Bearer ${KEY_V2}`)).toEqual([
      false,
      true,
    ]);
  });
});
