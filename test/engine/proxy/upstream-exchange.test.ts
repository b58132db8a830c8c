/**
 * The upstream exchange (src/engine/proxy/upstream-exchange.ts): one admitted request sent
 * upstream (plain HTTP or verified TLS through Keygate's pools, the agent's body piped or a
 * replay's sent whole, a caller's Host kept) and its answer relayed back: hop-by-hop headers
 * dropped, and when a credential was injected every channel scrubbed (a small body whole with its
 * exact length, a large or compressed one as a stream, an undecodable one refused). Every way an
 * upstream fails has a name: TLS 502, unreachable 502, a deadline 504, broken off mid-body a
 * clean 502 or a visibly broken body; an agent that leaves is recorded as such. A 401/403 is
 * first offered to the caller (rotation replay).
 *
 * The exchange runs behind a real http.Server on 127.0.0.1 that builds an Exchange per request,
 * as forward.ts does; upstreams are real HTTP, HTTPS (a per-run test CA) and raw TCP servers.
 */
import http from 'node:http';
import net from 'node:net';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActivityLog } from '../../../src/engine/activity/activity-log.js';
import { createLogger } from '../../../src/engine/log/logger.js';
import { AgentDirectory } from '../../../src/engine/proxy/agent-directory.js';
import { admittedRequest } from '../../../src/engine/proxy/before-secret.js';
import { UpstreamRoutes } from '../../../src/engine/proxy/connect-to.js';
import { forwardableRequestHeaders } from '../../../src/engine/proxy/hop-by-hop.js';
import {
  createProxyContext,
  type CredentialProxyOptions,
  type ProxyContext,
  type ProxyTimeouts,
} from '../../../src/engine/proxy/proxy-context.js';
import type { RequestHooks } from '../../../src/engine/proxy/request-hooks.js';
import { createUpstreamAgents } from '../../../src/engine/proxy/upstream-agents.js';
import {
  relayResponse,
  sendUpstream,
  whereOf,
  type Exchange,
  type OutgoingHeaders,
} from '../../../src/engine/proxy/upstream-exchange.js';
import { CompiledMapping } from '../../../src/engine/rules/compiled-mapping.js';
import { RuleTable } from '../../../src/engine/rules/rule-table.js';
import { Secret } from '../../../src/engine/secrets/secret.js';
import { SecretResolver } from '../../../src/engine/secrets/secret-resolver.js';
import { EnvSecretSource } from '../../../src/engine/secrets/env-source.js';
import { PLACEHOLDER_KEY } from '../../../src/shared/presets.js';
import type { ActivityEvent } from '../../../src/shared/activity.js';
import { cleanupAfterEach } from '../../helpers/cleanups.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import { testMitm } from '../../helpers/test-mitm.js';

/** Not a real key; assertions test for it with includes(), so a failure never prints it. */
const SECRET = 'sk-test-exchange-3f9a1c7e5b2d4086';
const TOKEN = 'exchange-token-0123456789';
const AT = '2026-12-03T00:00:00.000Z';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});

const { cleanups, listen } = cleanupAfterEach();

interface Harness {
  readonly context: ProxyContext;
  readonly activity: ActivityLog;
  readonly agent: NonNullable<ReturnType<AgentDirectory['named']>>;
  /** A second agent, for what must not be shared between agents. */
  readonly other: NonNullable<ReturnType<AgentDirectory['named']>>;
  readonly logLines: string[];
}

/** A real ProxyContext, as CredentialProxy builds one, trusting the test CA upstream. */
function harness(
  options: {
    routes?: string[];
    timeouts?: Partial<ProxyTimeouts>;
    hooks?: RequestHooks;
  } = {},
): Harness {
  const logLines: string[] = [];
  const logger = createLogger({ level: 'debug', sink: (line) => logLines.push(line) });
  const activity = new ActivityLog();
  const resolver = new SecretResolver({ sources: [new EnvSecretSource({})] });
  const routes = UpstreamRoutes.parse(options.routes ?? []);
  const upstream = createUpstreamAgents({ routes, extraCaPem: [pki.caPem] });
  cleanups.push(() => upstream.destroy());
  const agents = new AgentDirectory([
    { name: 'tester', token: TOKEN, createdAt: AT },
    { name: 'other', token: `${TOKEN}-other`, createdAt: AT },
  ]);
  const policy = { rules: new RuleTable([]), agents, denyUnmapped: false };
  const mitm = testMitm(logger);
  // The leaf minting is the CONNECT's business; nothing in an exchange reads it.
  const proxyOptions: Omit<CredentialProxyOptions, 'leaves'> = {
    logger,
    activity,
    resolver,
    routes,
    upstream,
    policy,
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.timeouts ? { timeouts: options.timeouts } : {}),
  };
  const context = createProxyContext(proxyOptions as CredentialProxyOptions, mitm, () => policy);
  cleanups.push(() => context.upstream.destroy());
  return {
    context,
    activity,
    agent: agents.named('tester')!,
    other: agents.named('other')!,
    logLines,
  };
}

type ExchangeFields = Pick<Exchange, 'host' | 'port'> &
  Partial<Omit<Exchange, 'req' | 'res' | 'host' | 'port'>>;

function exchangeOf(
  h: Harness,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  fields: ExchangeFields,
): Exchange {
  return {
    req,
    res,
    secure: false,
    path: req.url ?? '/',
    hostHeader: undefined,
    mapping: undefined,
    agent: h.agent,
    started: performance.now(),
    admitted: undefined,
    ...fields,
  };
}

/**
 * The front: for each agent request, `make` builds the Exchange (and optionally the headers,
 * path and replay body); then sendUpstream runs, as forward.ts calls it.
 */
function front(
  h: Harness,
  make: (
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ) => { x: Exchange; headers?: OutgoingHeaders; replayBody?: Buffer },
): Promise<number> {
  const server = http.createServer((req, res) => {
    const made = make(req, res);
    sendUpstream(
      h.context,
      made.x,
      made.headers ?? forwardableRequestHeaders(req.headers),
      made.x.path,
      made.replayBody,
    );
  });
  return listen(server);
}

interface Received {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** An HTTP(S) upstream that records each request; `answer` writes the response (default 200). */
async function upstreamServer(
  options: {
    secure?: boolean;
    cert?: { certPem: string; keyPem: string };
    answer?: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;
  } = {},
): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (options.answer) options.answer(req, res, body);
      else res.end('upstream ok');
    });
  };
  let server: net.Server;
  if (options.secure) {
    const { certPem, keyPem } = options.cert ?? (await pki.issue(['api.example.com']));
    server = https.createServer({ cert: certPem, key: keyPem }, handler);
  } else {
    server = http.createServer(handler);
  }
  return { port: await listen(server), received };
}

/** A TCP upstream that reads one request head per connection and answers it by hand. */
function rawUpstream(respond: (socket: net.Socket, head: string) => void): Promise<number> {
  const server = net.createServer((socket) => {
    let head = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) respond(socket, head);
    });
  });
  return listen(server);
}

interface Answer {
  readonly status: number;
  readonly reason: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** False when the body was cut short. */
  readonly complete: boolean;
  readonly ms: number;
}

function ask(
  port: number,
  options: {
    method?: string;
    path?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: string;
    chunked?: boolean;
  } = {},
): Promise<Answer> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', () => undefined);
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            reason: res.statusMessage ?? '',
            headers: res.headers,
            body: Buffer.concat(chunks),
            complete: res.complete,
            ms: performance.now() - start,
          }),
        );
      },
    );
    req.on('error', reject);
    cleanups.push(() => void req.destroy());
    if (options.chunked && options.body !== undefined) {
      // A write before end(), without a Content-Length: Node sends the body chunked.
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

function errorIdOf(answer: Answer): string | undefined {
  const id = answer.headers['x-keygate-error'];
  return typeof id === 'string' ? id : undefined;
}

function loopbackMapping(port: number): CompiledMapping {
  return new CompiledMapping({
    host: '127.0.0.1',
    port,
    ref: 'env://KEY',
    injector: { type: 'bearer' },
    allowPlaintext: true,
  });
}

function scrubberOf(h: Harness) {
  return h.context.secrets.scrubberFor({ primary: new Secret(SECRET) });
}

describe('whereOf', () => {
  it("names the exchange's place for the activity record: host, port, method, path, agent, mapping", async () => {
    const h = harness();
    const mapping = loopbackMapping(8080);
    const req = new http.IncomingMessage(new net.Socket());
    req.method = 'PATCH';
    const res = new http.ServerResponse(req);
    const x = exchangeOf(h, req, res, {
      host: '127.0.0.1',
      port: 8080,
      path: '/v1/x?q=1',
      mapping,
      started: 12.5,
    });
    expect(whereOf(x)).toStrictEqual({
      host: '127.0.0.1',
      port: 8080,
      started: 12.5,
      method: 'PATCH',
      path: '/v1/x?q=1',
      agent: h.agent,
      mapping: mapping.name,
    });
    expect(whereOf({ ...x, mapping: undefined }).mapping).toBeUndefined();
  });
});

describe('sendUpstream', () => {
  it("sends the method, path and headers it is given; a given Host is kept, else Node's is set", async () => {
    const h = harness();
    const up = await upstreamServer();
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up.port, path: '/v1/items?page=2' }),
      headers:
        req.headers['x-with-host'] === 'yes'
          ? { host: 'named.example', 'x-extra': 'kept' }
          : { 'x-extra': 'kept' },
    }));
    const named = await ask(port, { method: 'DELETE', headers: { 'x-with-host': 'yes' } });
    const unnamed = await ask(port, { method: 'DELETE' });
    expect([named.status, unnamed.status]).toEqual([200, 200]);
    expect(named.body.toString()).toBe('upstream ok');
    expect(up.received.map((r) => [r.method, r.url, r.headers.host, r.headers['x-extra']])).toEqual(
      [
        ['DELETE', '/v1/items?page=2', 'named.example', 'kept'],
        ['DELETE', '/v1/items?page=2', `127.0.0.1:${up.port}`, 'kept'],
      ],
    );
    // The front's own headers (x-with-host) were not passed: only the headers given are sent.
    expect(up.received.every((r) => r.headers['x-with-host'] === undefined)).toBe(true);
  });

  it('pipes a body with a Content-Length and a chunked one; a GET without one ends at once', async () => {
    const h = harness();
    const up = await upstreamServer();
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up.port }),
    }));
    const large = 'x'.repeat(300_000);
    await ask(port, {
      method: 'POST',
      path: '/sized',
      headers: { 'content-length': large.length },
      body: large,
    });
    await ask(port, { method: 'POST', path: '/chunked', body: 'streamed body', chunked: true });
    await ask(port, { path: '/none' });
    const byUrl = Object.fromEntries(up.received.map((r) => [r.url, r]));
    expect(byUrl['/sized']?.body.toString() === large).toBe(true);
    expect(byUrl['/sized']?.headers['content-length']).toBe(String(large.length));
    expect(byUrl['/chunked']?.body.toString()).toBe('streamed body');
    // Framed either way (RFC 9112 §6): chunked while it streams, or by length when the agent's
    // whole body was in before the upstream connection was ready.
    const chunkedHead = byUrl['/chunked']?.headers;
    expect(
      chunkedHead?.['transfer-encoding'] === 'chunked' ||
        chunkedHead?.['content-length'] === String('streamed body'.length),
    ).toBe(true);
    expect(byUrl['/none']?.body.length).toBe(0);
    expect(byUrl['/none']?.headers['transfer-encoding']).toBeUndefined();
  });

  it('answers Expect: 100-continue itself and sends the body upstream without the header', async () => {
    const h = harness();
    const up = await upstreamServer();
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up.port }),
    }));
    const answer = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'PUT',
          path: '/upload',
          headers: { expect: '100-continue', 'content-length': 9 },
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, continued }));
        },
      );
      // The body goes only after the 100: the agent waits for it, as curl and SDKs do.
      req.on('continue', () => {
        continued = true;
        req.end('after 100');
      });
      req.on('error', reject);
    });
    expect(answer).toEqual({ status: 200, continued: true });
    expect(up.received.map((r) => [r.url, r.body.toString(), r.headers.expect])).toEqual([
      ['/upload', 'after 100', undefined],
    ]);
  });

  it("passes over an upstream's 103 Early Hints: the agent gets the final answer only", async () => {
    const h = harness();
    const up = await upstreamServer({
      answer: (_req, res) => {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        res.setHeader('x-final', 'yes');
        res.end('final body');
      },
    });
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up.port }),
    }));
    const answer = await ask(port);
    expect([answer.status, answer.headers['x-final'], answer.body.toString()]).toEqual([
      200,
      'yes',
      'final body',
    ]);
    expect(answer.headers.link).toBeUndefined();
  });

  it("reuses an agent's upstream connection for its next request; another agent gets its own", async () => {
    const h = harness();
    const up = await upstreamServer({
      answer: (req, res) => res.end(String(req.socket.remotePort)),
    });
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, {
        host: '127.0.0.1',
        port: up.port,
        agent: req.url === '/other' ? h.other : h.agent,
      }),
    }));
    const ports: string[] = [];
    for (const path of ['/tester', '/tester', '/other', '/other'])
      ports.push((await ask(port, { path })).body.toString());
    const [tester1, tester2, other1, other2] = ports;
    expect(tester2).toBe(tester1);
    expect(other2).toBe(other1);
    // Separate pools: a lookup, a connection and its failures belong to whoever caused them.
    expect(other1).not.toBe(tester1);
  });

  it('dials an IPv6 literal upstream', async () => {
    const h = harness();
    const received: string[] = [];
    const server = http.createServer((req, res) => {
      received.push(req.headers.host ?? '');
      res.end('over ipv6');
    });
    const v6 = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '::1', () => resolve((server.address() as net.AddressInfo).port));
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '::1', port: v6 }),
      // No Host given: the client writes one, the literal in brackets (RFC 9110 §7.2).
      headers: {},
    }));
    const answer = await ask(port);
    expect([answer.status, answer.body.toString()]).toEqual([200, 'over ipv6']);
    expect(received).toEqual([`[::1]:${v6}`]);
  });

  it("sends a replay's body whole in place of the agent's", async () => {
    const h = harness();
    const up = await upstreamServer();
    const replayBody = Buffer.from('{"input":"kept from the first attempt"}');
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up.port }),
      headers: { 'content-length': String(replayBody.length) },
      replayBody,
    }));
    const answer = await ask(port, { method: 'POST' });
    expect(answer.status).toBe(200);
    expect(up.received[0]?.body).toEqual(replayBody);
  });

  it('speaks verified TLS to a routed upstream, checking the name the agent asked for', async () => {
    const up = await upstreamServer({ secure: true });
    const h = harness({ routes: [`api.example.com:443:127.0.0.1:${up.port}`] });
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { secure: true, host: 'api.example.com', port: 443 }),
      headers: { host: 'api.example.com' },
    }));
    const answer = await ask(port, { path: '/v1/models' });
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('upstream ok');
    expect(up.received[0]?.url).toBe('/v1/models');
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'forwarded',
      host: 'api.example.com',
      port: 443,
      status: 200,
      path: '/v1/models',
      agent: 'tester',
    });
  });

  it('refuses an upstream whose certificate the trust store does not vouch for: 502 upstream_tls', async () => {
    const stranger = await createTestPki();
    const up = await upstreamServer({
      secure: true,
      cert: await stranger.issue(['api.example.com']),
    });
    const h = harness({ routes: [`api.example.com:443:127.0.0.1:${up.port}`] });
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { secure: true, host: 'api.example.com', port: 443 }),
      headers: { host: 'api.example.com' },
    }));
    const answer = await ask(port);
    expect(answer.status).toBe(502);
    expect(errorIdOf(answer)).toBe('keygate_upstream_tls');
    expect(up.received).toHaveLength(0);
    expect(await lastRecord(h)).toMatchObject({ outcome: 'error', error: 'keygate_upstream_tls' });
  });

  it('names a refused connection 502 upstream_unreachable, by host:port or by mapping', async () => {
    const closed = net.createServer();
    const deadPort = await listen(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const h = harness();
    const mapping = loopbackMapping(deadPort);
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, {
        host: '127.0.0.1',
        port: deadPort,
        mapping: req.url === '/mapped' ? mapping : undefined,
      }),
    }));
    const unmapped = await ask(port, { path: '/unmapped' });
    const mapped = await ask(port, { path: '/mapped' });
    for (const answer of [unmapped, mapped]) {
      expect(answer.status).toBe(502);
      expect(errorIdOf(answer)).toBe('keygate_upstream_unreachable');
      expect(answer.body.toString()).toContain('ECONNREFUSED');
    }
    expect(unmapped.body.toString()).toContain(`127.0.0.1:${deadPort}: could not reach`);
    expect(mapped.body.toString()).toContain(`mapping ${mapping.name}: could not reach`);
  });

  it('cuts an upstream silent for upstreamIdleMs: 504 upstream_timeout', async () => {
    const h = harness({ timeouts: { upstreamIdleMs: 150 } });
    const up = await upstreamServer({ answer: () => undefined });
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up.port }),
    }));
    const answer = await ask(port);
    expect(answer.status).toBe(504);
    expect(errorIdOf(answer)).toBe('keygate_upstream_timeout');
    expect(answer.ms).toBeGreaterThanOrEqual(140);
    expect(answer.body.toString()).toContain('did not answer in time');
  });

  it('gives a new connection connectMs to connect and finish TLS: 504 when it never does', async () => {
    // Accepts TCP and never says a word: the TLS handshake never completes.
    const mute = await listen(net.createServer((socket) => socket.on('error', () => undefined)));
    const h = harness({
      routes: [`api.example.com:443:127.0.0.1:${mute}`],
      timeouts: { connectMs: 100, upstreamIdleMs: 5_000 },
    });
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { secure: true, host: 'api.example.com', port: 443 }),
      headers: { host: 'api.example.com' },
    }));
    const answer = await ask(port);
    expect(answer.status).toBe(504);
    expect(errorIdOf(answer)).toBe('keygate_upstream_timeout');
    expect(answer.ms).toBeGreaterThanOrEqual(90);
    expect(answer.ms).toBeLessThan(2_000);
  });

  it('stops the connect deadline at the handshake: a slow answer after it is not cut', async () => {
    const up = await upstreamServer({
      secure: true,
      answer: (_req, res) => void setTimeout(() => res.end('slow but fine'), 300),
    });
    const h = harness({
      routes: [`api.example.com:443:127.0.0.1:${up.port}`],
      timeouts: { connectMs: 100, upstreamIdleMs: 5_000 },
    });
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { secure: true, host: 'api.example.com', port: 443 }),
      headers: { host: 'api.example.com' },
    }));
    const answer = await ask(port);
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('slow but fine');
  });

  it('offers a 401 or 403 to onRejected: taken, the caller answers; declined, it is relayed', async () => {
    const h = harness();
    const up = await upstreamServer({
      answer: (req, res) => {
        res.statusCode = Number(new URL(req.url ?? '/', 'http://u').searchParams.get('code'));
        res.end(`answer ${res.statusCode}`);
      },
    });
    const offered: number[] = [];
    const port = await front(h, (req, res) => {
      const x = exchangeOf(h, req, res, { host: '127.0.0.1', port: up.port });
      x.onRejected = (response) => {
        offered.push(response.statusCode ?? 0);
        if (response.statusCode !== 401) return false;
        // Taken over: the caller decides later (a refresh), then relays it itself.
        setTimeout(() => relayResponse(h.context, x, response), 30);
        return true;
      };
      return { x };
    });
    const answers = [];
    for (const code of [401, 403, 404, 500, 200])
      answers.push(await ask(port, { path: `/?code=${code}` }));
    expect(answers.map((a) => [a.status, a.body.toString()])).toEqual([
      [401, 'answer 401'],
      [403, 'answer 403'],
      [404, 'answer 404'],
      [500, 'answer 500'],
      [200, 'answer 200'],
    ]);
    expect(offered).toEqual([401, 403]);
    // The one taken over waited for its caller before reaching the agent.
    expect(answers[0]!.ms).toBeGreaterThanOrEqual(25);
  });

  it('cuts the upstream request when the agent leaves, and records agent_closed, not an upstream fault', async () => {
    const h = harness();
    let upstreamSawClose!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamSawClose = resolve));
    let arrived!: () => void;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    const up = await upstreamServer({
      answer: (req) => {
        req.socket.once('close', upstreamSawClose);
        arrived();
      },
    });
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up.port, path: '/slow' }),
    }));
    const agent = net.connect({ host: '127.0.0.1', port }, () =>
      agent.write(`GET /slow HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`),
    );
    agent.on('error', () => undefined);
    await reached;
    agent.destroy();
    await closed;
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'error',
      status: 499,
      error: 'keygate_agent_closed',
      path: '/slow',
    });
  });
});

describe('relayResponse', () => {
  it('passes status, reason and end-to-end headers; drops hop-by-hop ones and those Connection names', async () => {
    const h = harness();
    const up = await rawUpstream((socket) =>
      socket.end(
        'HTTP/1.1 201 Made It\r\n' +
          'Connection: keep-alive, X-Hop\r\n' +
          'Keep-Alive: timeout=5\r\n' +
          'X-Hop: for this connection only\r\n' +
          'X-Kept: end to end\r\n' +
          'Set-Cookie: a=1\r\n' +
          'Set-Cookie: b=2\r\n' +
          'Content-Length: 5\r\n\r\nhello',
      ),
    );
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up }),
    }));
    const answer = await ask(port);
    expect([answer.status, answer.reason, answer.body.toString()]).toEqual([
      201,
      'Made It',
      'hello',
    ]);
    expect(answer.headers['x-kept']).toBe('end to end');
    expect(answer.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(answer.headers['x-hop']).toBeUndefined();
    expect(answer.headers['keep-alive']).toBeUndefined();
    expect(await lastRecord(h)).toMatchObject({ outcome: 'forwarded', status: 201 });
  });

  it('scrubs a small answer whole: reason, header values, header names, body, with its exact length', async () => {
    const echoed = JSON.stringify({ error: `invalid key ${SECRET}` });
    const up = await rawUpstream((socket) =>
      socket.end(
        `HTTP/1.1 401 bad key ${SECRET}\r\n` +
          'Content-Type: application/json\r\n' +
          `X-Echo: Bearer ${SECRET}\r\n` +
          `X-${SECRET}: the name carries it\r\n` +
          `Content-Length: ${Buffer.byteLength(echoed)}\r\n\r\n${echoed}`,
      ),
    );
    const observed: { status?: number; chunks: Buffer[]; ends: boolean[] } = {
      chunks: [],
      ends: [],
    };
    const h = harness({
      hooks: {
        onResponse: (_request, status) => {
          observed.status = status;
          return {
            chunk: (data) => observed.chunks.push(data),
            end: (complete) => observed.ends.push(complete),
          };
        },
      },
    });
    const mapping = loopbackMapping(up);
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, {
        host: '127.0.0.1',
        port: up,
        mapping,
        scrubber: scrubberOf(h),
        admitted: admittedRequest(
          { host: '127.0.0.1', port: up, path: '/', agent: h.agent },
          mapping,
          'GET',
          'plaintext',
        ),
      }),
    }));
    const answer = await ask(port);
    const body = answer.body.toString();
    const everything = JSON.stringify([answer.reason, answer.headers, body]);
    expect(everything.includes(SECRET)).toBe(false);
    expect(answer.status).toBe(401);
    expect(answer.reason).toBe(`bad key ${PLACEHOLDER_KEY}`);
    expect(answer.headers['x-echo']).toBe(`Bearer ${PLACEHOLDER_KEY}`);
    expect(Object.keys(answer.headers).some((name) => name.includes(SECRET))).toBe(false);
    expect(body).toBe(JSON.stringify({ error: `invalid key ${PLACEHOLDER_KEY}` }));
    expect(answer.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(answer.headers['transfer-encoding']).toBeUndefined();
    // The hooks saw what the agent got, once, complete.
    expect(observed.status).toBe(401);
    expect(Buffer.concat(observed.chunks).toString()).toBe(body);
    expect(observed.ends).toEqual([true]);
    expect(await lastRecord(h)).toMatchObject({
      outcome: 'injected',
      status: 401,
      mapping: mapping.name,
    });
  });

  it('scrubs a large answer as a stream, a key split across writes included; its length is dropped', async () => {
    const pad = 'p'.repeat(70 * 1024);
    const split = 7;
    const up = await rawUpstream((socket) => {
      const total = pad.length + SECRET.length + 'tail'.length;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
      socket.write(pad + SECRET.slice(0, split));
      setTimeout(() => socket.end(`${SECRET.slice(split)}tail`), 20);
    });
    const chunks: Buffer[] = [];
    const ends: boolean[] = [];
    const h = harness({
      hooks: {
        onResponse: () => ({ chunk: (data) => chunks.push(data), end: (c) => ends.push(c) }),
      },
    });
    const mapping = loopbackMapping(up);
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, {
        host: '127.0.0.1',
        port: up,
        mapping,
        scrubber: scrubberOf(h),
        admitted: admittedRequest(
          { host: '127.0.0.1', port: up, path: '/', agent: h.agent },
          mapping,
          'GET',
          'plaintext',
        ),
      }),
    }));
    const answer = await ask(port);
    const body = answer.body.toString();
    expect(body.includes(SECRET)).toBe(false);
    expect(body === `${pad}${PLACEHOLDER_KEY}tail`).toBe(true);
    expect(answer.headers['content-length']).toBeUndefined();
    expect(answer.headers['transfer-encoding']).toBe('chunked');
    expect(Buffer.concat(chunks).toString() === body).toBe(true);
    expect(ends).toEqual([true]);
  });

  it('decodes a gzip answer to scrub it, and sends it as identity', async () => {
    const gz = zlib.gzipSync(Buffer.from(`{"echo":"${SECRET}"}`));
    const up = await rawUpstream((socket) => {
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`,
      );
      socket.end(gz);
    });
    const h = harness();
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, {
        host: '127.0.0.1',
        port: up,
        mapping: loopbackMapping(up),
        scrubber: scrubberOf(h),
      }),
    }));
    const answer = await ask(port);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.body.toString().includes(SECRET)).toBe(false);
    expect(answer.body.toString()).toBe(`{"echo":"${PLACEHOLDER_KEY}"}`);
  });

  it.each([
    ['a content-coding it cannot decode', 'Content-Encoding: zstd\r\nContent-Length: 4', 'zstd'],
    ['a transfer-coding other than chunked', 'Transfer-Encoding: gzip, chunked', 'gzip, chunked'],
  ])('fails closed on %s: 502, and none of the body is passed on', async (_what, header, named) => {
    const up = await rawUpstream((socket) =>
      socket.end(
        `HTTP/1.1 200 OK\r\n${header}\r\n\r\n${header.includes('chunked') ? '4\r\nabcd\r\n0\r\n\r\n' : 'abcd'}`,
      ),
    );
    const h = harness();
    const mapping = loopbackMapping(up);
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, {
        host: '127.0.0.1',
        port: up,
        mapping,
        scrubber: scrubberOf(h),
      }),
    }));
    const answer = await ask(port);
    expect(answer.status).toBe(502);
    expect(errorIdOf(answer)).toBe('keygate_upstream_unreachable');
    expect(answer.body.toString()).toContain(`"${named}" cannot be decoded`);
    expect(answer.body.toString()).toContain('not passed on');
    expect(answer.body.toString().includes('abcd')).toBe(false);
  });

  it('leaves the head of a HEAD answer its Content-Length: there is no body to scrub', async () => {
    const up = await rawUpstream((socket) =>
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Echo: ${SECRET}\r\n\r\n`),
    );
    const h = harness();
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, {
        host: '127.0.0.1',
        port: up,
        mapping: loopbackMapping(up),
        scrubber: scrubberOf(h),
      }),
    }));
    const answer = await ask(port, { method: 'HEAD' });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBe('1234');
    expect(JSON.stringify(answer.headers).includes(SECRET)).toBe(false);
    expect(answer.headers['x-echo']).toBe(PLACEHOLDER_KEY);
  });

  it("breaks the agent's response when a streamed body breaks off: never a short one that looks whole", async () => {
    const up = await rawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      socket.write('a'.repeat(1000));
      setTimeout(() => socket.destroy(), 20);
    });
    const h = harness();
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up }),
    }));
    const answer = await ask(port);
    expect(answer.status).toBe(200);
    expect(answer.complete).toBe(false);
    expect(answer.body.length).toBeLessThan(100_000);
  });

  it('answers a clean 502 when a body scrubbed whole breaks off, and tells the hooks it was cut', async () => {
    const up = await rawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      socket.write('a'.repeat(100));
      setTimeout(() => socket.destroy(), 20);
    });
    const ends: boolean[] = [];
    const h = harness({
      hooks: { onResponse: () => ({ chunk: () => undefined, end: (c) => ends.push(c) }) },
    });
    const mapping = loopbackMapping(up);
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, {
        host: '127.0.0.1',
        port: up,
        mapping,
        scrubber: scrubberOf(h),
        admitted: admittedRequest(
          { host: '127.0.0.1', port: up, path: '/', agent: h.agent },
          mapping,
          'GET',
          'plaintext',
        ),
      }),
    }));
    const answer = await ask(port);
    expect(answer.status).toBe(502);
    expect(errorIdOf(answer)).toBe('keygate_upstream_unreachable');
    expect(answer.body.toString()).toContain('the upstream broke off its response');
    expect(answer.body.toString().includes('aaaa')).toBe(false);
    expect(ends).toEqual([false]);
  });

  it('names a body scrubbed whole that stalls a timeout (504), not a break', async () => {
    const up = await rawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      socket.write('a'.repeat(100));
    });
    const h = harness({ timeouts: { upstreamIdleMs: 150 } });
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, {
        host: '127.0.0.1',
        port: up,
        mapping: loopbackMapping(up),
        scrubber: scrubberOf(h),
      }),
    }));
    const answer = await ask(port);
    expect(answer.status).toBe(504);
    expect(errorIdOf(answer)).toBe('keygate_upstream_timeout');
  });

  it('asks the hooks nothing for a request not admitted to a mapping', async () => {
    let asked = 0;
    const h = harness({ hooks: { onResponse: () => void asked++ } });
    const up = await upstreamServer();
    const port = await front(h, (req, res) => ({
      x: exchangeOf(h, req, res, { host: '127.0.0.1', port: up.port }),
    }));
    expect((await ask(port)).status).toBe(200);
    expect(asked).toBe(0);
  });
});
