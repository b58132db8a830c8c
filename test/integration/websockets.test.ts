/**
 * WebSockets through an intercepted host, against a real TLS upstream (test CA) and the `ws`
 * client through CONNECT: the upstream is dialled before the agent's 101, subprotocols are
 * negotiated end to end, an upstream refusal reaches the agent as the upstream's own answer,
 * close codes cross, and a reader that stops makes Keygate stop reading the upstream.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { HttpsProxyAgent } from 'https-proxy-agent';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { createTestPki } from '../helpers/test-pki.js';
import { parseAgentError } from '../helpers/agent-error.js';
import { OPENAI_RESPONSES_EVENTS } from '../engine/usage/recorded-responses.js';

const SECRET = 'sk-ws-CANARY-0f1e2d3c4b5a';
const HOST = 'ws.example.test';

let server: https.Server;
let upstream: WebSocketServer;
let fixture: EngineFixture;
const upstreamSockets: WebSocket[] = [];
const upgrades: {
  url: string;
  authorization: string | undefined;
  protocols: string | undefined;
}[] = [];

beforeAll(async () => {
  const pki = await createTestPki();
  const { certPem, keyPem } = await pki.issue([HOST]);
  server = https.createServer({ cert: certPem, key: keyPem });
  upstream = new WebSocketServer({
    noServer: true,
    // Picks the *last* offer it knows, so a proxy that just takes the first would be caught.
    handleProtocols: (offered) =>
      [...offered].reverse().find((p) => p === 'graphql-transport-ws' || p === 'chat') ?? false,
  });
  server.on('upgrade', (req, socket, head) => {
    upgrades.push({
      url: req.url ?? '',
      authorization: req.headers.authorization,
      protocols: req.headers['sec-websocket-protocol'],
    });
    if (req.url === '/refuse') {
      const body = JSON.stringify({ error: 'bad key', got: req.headers.authorization });
      socket.end(
        `HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n` +
          `www-authenticate: Bearer\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    upstream.handleUpgrade(req, socket, head, (ws) => {
      upstreamSockets.push(ws);
      // The Responses WebSocket: every response.create is answered with its events, usage last.
      if (req.url === '/v1/responses')
        ws.on('message', () => {
          for (const event of OPENAI_RESPONSES_EVENTS) ws.send(JSON.stringify(event));
        });
      upstream.emit('connection', ws, req);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  fixture = await startEngine({
    secrets: { WS_KEY: SECRET },
    mappings: [{ host: HOST, ref: 'env://WS_KEY' }],
    connectTo: [`${HOST}:443:127.0.0.1:${port}`, `down.example.test:443:127.0.0.1:1`],
    upstreamCaFiles: [pki.caPath],
  });
  await fixture.controller.handlers['mappings.upsert']({
    host: 'down.example.test',
    ref: 'env://WS_KEY',
  });
  await fixture.controller.handlers['agents.add']({ name: 'capped' });
  await fixture.controller.handlers['agents.add']({ name: 'counted' });
  fixture.engine.store.update((draft) => {
    draft.agents.find((a) => a.name === 'capped')!.budget = { maxTokensPerDay: 100 };
    draft.agents.find((a) => a.name === 'counted')!.budget = { maxRequestsPerHour: 3 };
  });
});

afterEach(() => {
  for (const socket of upstreamSockets.splice(0)) socket.terminate();
});

afterAll(async () => {
  await fixture?.stop();
  upstream?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

function connect(path: string, protocols: string[] = [], host = HOST, as?: string) {
  const agent = new HttpsProxyAgent(fixture.proxyUrl(as), { ca: fixture.engine.ca.certPem });
  const socket = new WebSocket(`wss://${host}${path}`, protocols, {
    agent,
    ca: fixture.engine.ca.certPem,
    headers: { Authorization: 'Bearer keygate-placeholder' },
  });
  return { socket, agent };
}

function opened(socket: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
}

function refusedWith(
  socket: WebSocket,
): Promise<{ status: number; headers: object; body: string }> {
  return new Promise((resolve, reject) => {
    socket.once('open', () => reject(new Error('the WebSocket opened')));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    socket.once('error', () => undefined);
  });
}

describe('WebSockets through an intercepted host', () => {
  it('negotiates the subprotocol with the upstream, end to end, with the credential injected', async () => {
    const { socket, agent } = connect('/graphql', ['chat', 'graphql-transport-ws']);
    await opened(socket);
    expect(socket.protocol).toBe('graphql-transport-ws');
    expect(upstreamSockets.at(-1)?.protocol).toBe('graphql-transport-ws');
    expect(upgrades.at(-1)).toMatchObject({
      url: '/graphql',
      authorization: `Bearer ${SECRET}`,
      protocols: 'chat,graphql-transport-ws',
    });
    socket.close();
    agent.destroy();
  });

  it('refuses with a named 502 when the upstream selects none of the offered subprotocols', async () => {
    // The agent's own client (ws, browsers) would fail the connection on such an answer.
    const { socket, agent } = connect('/none', ['unknown-protocol']);
    const refusal = await refusedWith(socket);
    expect(refusal.status).toBe(502);
    expect(parseAgentError(refusal.body)).toEqual({
      error: 'keygate_upstream_unreachable',
      message: 'WebSocket to ws.example.test:443: server sent no subprotocol',
    });
    agent.destroy();
  });

  it('passes an upstream refusal through as the upstream’s answer, scrubbed, and never opens', async () => {
    const { socket, agent } = connect('/refuse');
    const refusal = await refusedWith(socket);
    expect(refusal.status).toBe(401);
    expect(refusal.headers).toMatchObject({
      'content-type': 'application/json',
      'www-authenticate': 'Bearer',
    });
    expect(JSON.parse(refusal.body)).toEqual({
      error: 'bad key',
      got: 'Bearer keygate-placeholder',
    });
    expect(upgrades.at(-1)?.authorization).toBe(`Bearer ${SECRET}`);
    expect(fixture.engine.activity.recent().at(-1)).toMatchObject({
      outcome: 'injected',
      status: 401,
      host: HOST,
    });
    agent.destroy();
  });

  it('answers 502 keygate_upstream_unreachable, not 101, when the upstream cannot be reached', async () => {
    const { socket, agent } = connect('/x', [], 'down.example.test');
    const refusal = await refusedWith(socket);
    expect(refusal.status).toBe(502);
    expect(parseAgentError(refusal.body)).toMatchObject({
      error: 'keygate_upstream_unreachable',
      message: expect.stringMatching(/^WebSocket to down\.example\.test:443: .*ECONNREFUSED/),
    });
    agent.destroy();
  });

  it('an open WebSocket is closed once its agent’s token budget is used: one upgrade, many model calls', async () => {
    const { socket, agent } = connect('/v1/responses', [], HOST, 'capped');
    await opened(socket);
    const completed = new Promise<void>((resolve) =>
      socket.on('message', (data) => {
        if (String(data).includes('"response.completed"')) resolve();
      }),
    );
    socket.send(JSON.stringify({ type: 'response.create' }));
    // 36 + 87 tokens, counted from the upstream's own event: over the 100 a day.
    await completed;
    const closed = new Promise<[number, string]>((resolve) =>
      socket.once('close', (code, reason) => resolve([code, String(reason)])),
    );
    const before = upstreamSockets.length;
    socket.send(JSON.stringify({ type: 'response.create' }));
    const [code, reason] = await closed;
    expect(code).toBe(1008);
    expect(reason).toMatch(
      /^Keygate: budget exceeded: agent "capped" used 123 of its 100 tokens today/,
    );
    expect(upstreamSockets.length).toBe(before);
    const records = fixture.engine.activity.recent().filter((e) => e.agent === 'capped');
    expect(records.map((e) => [e.status, e.error])).toEqual([
      [101, undefined],
      [429, 'keygate_budget_exceeded'],
    ]);
    agent.destroy();
  });

  it('counts the upgrade and each message the agent sends as requests: fifty pipelined, two reach the upstream', async () => {
    // Tokens are known only when an answer ends; a count per message is what holds at once,
    // and on any WebSocket, whether Keygate can read its usage or not.
    const { socket, agent } = connect('/v1/realtime', [], HOST, 'counted');
    await opened(socket);
    const up = upstreamSockets.at(-1)!;
    const received: string[] = [];
    up.on('message', (data) => received.push(String(data)));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    for (let i = 0; i < 50; i++) socket.send(JSON.stringify({ type: 'response.create', i }));
    expect(await closed).toBe(1008);
    expect(received.map((m) => (JSON.parse(m) as { i: number }).i)).toEqual([0, 1]);
    agent.destroy();
  });

  it('carries close codes and reasons both ways', async () => {
    const first = connect('/close');
    await opened(first.socket);
    const fromUpstream = new Promise<[number, string]>((resolve) =>
      first.socket.once('close', (code, reason) => resolve([code, reason.toString()])),
    );
    upstreamSockets.at(-1)?.close(4001, 'upstream says bye');
    expect(await fromUpstream).toEqual([4001, 'upstream says bye']);
    first.agent.destroy();

    const second = connect('/close');
    await opened(second.socket);
    const upstreamSide = upstreamSockets.at(-1);
    const fromAgent = new Promise<[number, string]>((resolve) =>
      upstreamSide?.once('close', (code, reason) => resolve([code, reason.toString()])),
    );
    second.socket.close(4002, 'agent says bye');
    expect(await fromAgent).toEqual([4002, 'agent says bye']);
    second.agent.destroy();
  });

  it('stops reading the upstream while the agent does not read, then delivers everything in order', async () => {
    const { socket, agent } = connect('/flood');
    await opened(socket);
    const upstreamSide = upstreamSockets.at(-1);
    if (!upstreamSide) throw new Error('no upstream socket');
    socket.pause();

    const MESSAGES = 48;
    const size = 1024 * 1024;
    for (let i = 0; i < MESSAGES; i++) upstreamSide.send(Buffer.alloc(size, i % 251));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // Kernel buffers on two loopback hops and Keygate's 1 MiB mark hold a few MB; without
    // backpressure Keygate would have read all 48 MB and the upstream would hold nothing.
    expect(upstreamSide.bufferedAmount).toBeGreaterThan(24 * size);

    const received: number[] = [];
    const all = new Promise<void>((resolve) => {
      socket.on('message', (data: Buffer) => {
        expect(data.length).toBe(size);
        received.push(data[0] ?? -1);
        if (received.length === MESSAGES) resolve();
      });
    });
    socket.resume();
    await all;
    expect(received).toEqual(Array.from({ length: MESSAGES }, (_, i) => i % 251));
    socket.close();
    agent.destroy();
  }, 30_000);
});
