/**
 * dialUpstreamWebSocket and relayWebSocket (src/engine/proxy/websocket-relay.ts). The dial: the
 * agent's subprotocol offers and the given headers upstream, no compression; `open`, or
 * `refused` with the upstream's own status, four of its headers and its body (cut at 64 KiB), or
 * a rejection with the network, handshake or ws error. The relay, wired as websocket.ts wires it
 * (dialled before the agent's 101): messages both ways as sent, the upstream's scrubbed (whole,
 * across fragments and TCP writes) and shown to the observer; close codes and reasons across, the
 * upstream's reason scrubbed and kept within a close frame; a drop or reset dropping the other
 * side; pings answered on each hop, never forwarded; a sender paused while the other side does
 * not read; what the upstream sent with its 101 relayed, not lost. Real `ws` servers and
 * clients on 127.0.0.1, and a raw TCP upstream for the frames (split, fragmented, invalid, sent
 * with the 101) a `ws` server would never write.
 */
import { createHash } from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { AgentClosedError, UpstreamTimeoutError } from '../../../src/engine/errors.js';
import type { LookupFunction } from '../../../src/engine/proxy/dns-lookup.js';
import type { WebSocketObserver } from '../../../src/engine/proxy/request-hooks.js';
import { SecretScrubber } from '../../../src/engine/proxy/secret-scrubber.js';
import {
  dialUpstreamWebSocket,
  relayWebSocket,
  type RelayOptions,
  type UpstreamDial,
} from '../../../src/engine/proxy/websocket-relay.js';
import { cleanupAfterEach } from '../../helpers/cleanups.js';
import { closedPort } from '../../helpers/hostile-upstream.js';

const { cleanups, listen } = cleanupAfterEach();

// SECRET: the value an upstream echoes. What reaches the agent is asserted through `shown`, so a
// failing assertion prints `<SECRET>`, never the value.
const SECRET = 'sk-relay-CANARY-5e6f7a8b';
const shown = (data: Buffer | string | undefined) => String(data).replaceAll(SECRET, '<SECRET>');
const PLACEHOLDER = 'keygate-placeholder';
const scrubber = () => new SecretScrubber([SECRET], PLACEHOLDER);

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function httpAgent(): http.Agent {
  const agent = new http.Agent();
  cleanups.push(() => agent.destroy());
  return agent;
}

function dial(
  url: string,
  overrides: {
    protocols?: string[];
    timeoutMs?: number;
    lookup?: LookupFunction;
    signal?: AbortSignal;
  } = {},
) {
  return dialUpstreamWebSocket({
    url,
    protocols: overrides.protocols ?? [],
    headers: { authorization: 'Bearer upstream-key', 'x-request': 'kept' },
    agent: httpAgent(),
    lookup: overrides.lookup ?? dns.lookup,
    timeoutMs: overrides.timeoutMs ?? 5_000,
    ...(overrides.signal ? { signal: overrides.signal } : {}),
  });
}

/** A raw TCP upstream that hands each connection to `onConnection`; its sockets, for the test. */
async function tcpUpstream(
  onConnection: (socket: net.Socket) => void,
): Promise<{ url: string; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  const port = await listen(server);
  cleanups.push(() => sockets.forEach((socket) => socket.destroy()));
  return { url: `ws://127.0.0.1:${port}/`, sockets };
}

function closedSocket(socket: net.Socket | undefined): Promise<void> {
  return new Promise((resolve) =>
    !socket || socket.destroyed ? resolve() : socket.once('close', () => resolve()),
  );
}

/** Writes `text` one byte every `everyMs` until it is all out or the socket closes. */
function trickle(socket: net.Socket, text: string, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) clearInterval(timer);
    else socket.write(text[at++]!);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

function opened(dialled: UpstreamDial): WebSocket {
  if (dialled.kind !== 'open') throw new Error(`expected open, got ${dialled.refusal.status}`);
  cleanups.push(() => dialled.socket.terminate());
  return dialled.socket;
}

interface WsUpstream {
  readonly url: string;
  /** The upgrade requests it received, in order. */
  readonly requests: http.IncomingMessage[];
  /** Its side of each WebSocket, in order. */
  readonly sockets: WebSocket[];
}

/** A `ws` server; `refuse` answers an upgrade itself (any path it returns true for). */
async function wsUpstream(
  options: {
    handleProtocols?: (offered: Set<string>) => string | false;
    refuse?: (req: http.IncomingMessage, socket: net.Socket) => boolean;
  } = {},
): Promise<WsUpstream> {
  const requests: http.IncomingMessage[] = [];
  const sockets: WebSocket[] = [];
  const server = http.createServer();
  const wss = new WebSocketServer({
    noServer: true,
    ...(options.handleProtocols ? { handleProtocols: options.handleProtocols } : {}),
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    requests.push(req);
    if (options.refuse?.(req, socket)) return;
    wss.handleUpgrade(req, socket, head, (ws) => sockets.push(ws));
  });
  const port = await listen(server);
  cleanups.push(() => {
    for (const ws of sockets) ws.terminate();
  });
  return { url: `ws://127.0.0.1:${port}`, requests, sockets };
}

/** A WebSocket frame; a server's is unmasked, unless `mask` says otherwise. */
function frame(
  opcode: number,
  payload: Buffer | string,
  options: { fin?: boolean; mask?: Buffer } = {},
): Buffer {
  const data = Buffer.from(payload);
  const { fin = true, mask } = options;
  const first = (fin ? 0x80 : 0) | opcode;
  const maskBit = mask ? 0x80 : 0;
  let head: Buffer;
  if (data.length < 126) head = Buffer.from([first, maskBit | data.length]);
  else if (data.length < 65_536) {
    head = Buffer.from([first, maskBit | 126, 0, 0]);
    head.writeUInt16BE(data.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(data.length), 2);
  }
  if (!mask) return Buffer.concat([head, data]);
  const masked = Buffer.from(data.map((byte, i) => byte ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([head, mask, masked]);
}

function closeFrame(code: number, reason: Buffer | string): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return frame(0x8, Buffer.concat([payload, Buffer.from(reason)]));
}

/**
 * A raw TCP upstream: reads the upgrade request, then hands `onUpgrade` the socket and the 101
 * that accepts it, to write (with or without frames after it) as the test likes.
 */
async function rawUpstream(
  onUpgrade: (socket: net.Socket, accept: Buffer) => void,
): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      const digest = createHash('sha1')
        .update(key + WS_GUID)
        .digest('base64');
      onUpgrade(
        socket,
        Buffer.from(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${digest}\r\n\r\n`,
        ),
      );
    };
    socket.on('data', onData);
  });
  const port = await listen(server);
  return `ws://127.0.0.1:${port}`;
}

interface Relayed {
  /** The agent's client. */
  readonly agent: WebSocket;
  /** Keygate's two sockets: the one the agent connected to, and its dial to the upstream. */
  readonly agentSide: WebSocket;
  readonly upstream: WebSocket;
  /** onClose: resolved once both sides are closed. */
  readonly closed: Promise<void>;
  readonly events: string[];
}

/**
 * The relay as websocket.ts wires it: the upstream dialled in verifyClient, before the agent's
 * 101, and relayWebSocket called as ws hands over the agent's side.
 */
interface RelayProxyOptions {
  scrubber?: SecretScrubber;
  highWaterMark?: number;
  beforeAgentMessage?: () => void;
  onRefused?: (err: unknown) => void;
}

async function relayProxy(url: string, options: RelayProxyOptions) {
  const events: string[] = [];
  const observer: WebSocketObserver = {
    message: (data, isText) => events.push(`observed ${isText ? 'text' : 'binary'} ${data}`),
    close: () => events.push('observer closed'),
  };
  let upstream: WebSocket | undefined;
  let relayed!: (sides: { agentSide: WebSocket; upstream: WebSocket }) => void;
  const sides = new Promise<{ agentSide: WebSocket; upstream: WebSocket }>((r) => (relayed = r));
  let onClose!: () => void;
  const closed = new Promise<void>((r) => (onClose = r));
  const relayOptions: RelayOptions = {
    scrubber: options.scrubber,
    observer,
    onClose: () => {
      events.push('onClose');
      onClose();
    },
    ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
    ...(options.beforeAgentMessage ? { beforeAgentMessage: options.beforeAgentMessage } : {}),
    ...(options.onRefused ? { onRefused: options.onRefused } : {}),
  };
  const wss = new WebSocketServer({
    noServer: true,
    verifyClient: (_info, done) => {
      dial(url).then(
        (dialled) => {
          upstream = opened(dialled);
          done(true);
        },
        () => done(false, 502),
      );
    },
  });
  const proxy = http.createServer();
  proxy.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (agentSide) => {
      if (!upstream) throw new Error('no upstream');
      cleanups.push(() => agentSide.terminate());
      relayWebSocket(agentSide, upstream, relayOptions);
      relayed({ agentSide, upstream });
    });
  });
  const port = await listen(proxy);
  return { port, sides, closed, events };
}

async function relayTo(
  url: string,
  options: RelayProxyOptions & {
    /** Called with the agent's client before it opens, to listen from its first frame. */
    onAgent?: (agent: WebSocket) => void;
  } = {},
): Promise<Relayed> {
  const { port, sides, closed, events } = await relayProxy(url, options);
  const agent = new WebSocket(`ws://127.0.0.1:${port}/socket`);
  cleanups.push(() => agent.terminate());
  agent.on('error', () => undefined);
  options.onAgent?.(agent);
  await new Promise<void>((resolve, reject) => {
    agent.once('open', () => resolve());
    agent.once('error', reject);
  });
  return { agent, ...(await sides), closed, events };
}

function nextMessage(socket: WebSocket): Promise<{ text: string; binary: boolean }> {
  return new Promise((resolve) =>
    socket.once('message', (data: RawData, binary: boolean) =>
      resolve({ text: Buffer.from(data as Buffer).toString(), binary }),
    ),
  );
}

function messages(socket: WebSocket, count: number): Promise<Buffer[]> {
  const received: Buffer[] = [];
  return new Promise((resolve) =>
    socket.on('message', (data: RawData) => {
      received.push(Buffer.from(data as Buffer));
      if (received.length === count) resolve(received);
    }),
  );
}

function closeOf(socket: WebSocket): Promise<{ code: number; reason: Buffer }> {
  return new Promise((resolve) =>
    socket.once('close', (code: number, reason: Buffer) => resolve({ code, reason })),
  );
}

describe('dialUpstreamWebSocket', () => {
  it('opens with the agent’s subprotocol offers and the given headers, without compression', async () => {
    const upstream = await wsUpstream({
      handleProtocols: (offered) => ([...offered].includes('chat') ? 'chat' : false),
    });
    const socket = opened(await dial(`${upstream.url}/graphql?x=1`, { protocols: ['v1', 'chat'] }));
    expect(socket.readyState).toBe(WebSocket.OPEN);
    // Paused until relayWebSocket is wired, so nothing the upstream sent is read before.
    expect(socket.isPaused).toBe(true);
    expect(socket.protocol).toBe('chat');
    const request = upstream.requests.at(-1);
    expect(request?.url).toBe('/graphql?x=1');
    expect(request?.headers).toMatchObject({
      authorization: 'Bearer upstream-key',
      'x-request': 'kept',
      'sec-websocket-protocol': 'v1,chat',
    });
    // Messages are scrubbed as bytes: permessage-deflate is never offered.
    expect(request?.headers['sec-websocket-extensions']).toBeUndefined();
  });

  it('resolves the upstream’s name with the lookup it is given (the agent’s DNS budget)', async () => {
    const upstream = await wsUpstream();
    const asked: string[] = [];
    const lookup: LookupFunction = (hostname, options, callback) => {
      asked.push(hostname);
      dns.lookup('127.0.0.1', options, callback);
    };
    const port = new URL(upstream.url).port;
    opened(await dial(`ws://upstream.test:${port}/`, { lookup }));
    expect(asked).toEqual(['upstream.test']);
  });

  it('resolves refused with the upstream’s status, reason phrase, four of its headers and its body', async () => {
    const body = JSON.stringify({ error: 'bad key', got: 'Bearer upstream-key' });
    const upstream = await wsUpstream({
      refuse: (_req, socket) => {
        socket.end(
          'HTTP/1.1 401 Key Refused\r\ncontent-type: application/json\r\n' +
            'www-authenticate: Bearer realm="x"\r\nlocation: /login\r\nretry-after: 5\r\n' +
            `set-cookie: s=1\r\nx-upstream: internal\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
        );
        return true;
      },
    });
    const dialled = await dial(`${upstream.url}/refuse`);
    expect(dialled).toEqual({
      kind: 'refused',
      refusal: {
        status: 401,
        statusMessage: 'Key Refused',
        // ws's own spelling, so the agent's answer gets one Content-Type, not two.
        headers: {
          'Content-Type': 'application/json',
          'Www-Authenticate': 'Bearer realm="x"',
          Location: '/login',
          'Retry-After': '5',
        },
        // As sent: scrubbing is the caller's (scrubWebSocketRefusal).
        body: Buffer.from(body),
        truncated: false,
        coding: undefined,
      },
    });
  });

  it('does not follow a redirect: it is the refusal', async () => {
    const upstream = await wsUpstream({
      refuse: (_req, socket) => {
        socket.end(
          'HTTP/1.1 302 Found\r\nlocation: ws://elsewhere.test/\r\ncontent-length: 0\r\n\r\n',
        );
        return true;
      },
    });
    const dialled = await dial(upstream.url);
    expect(dialled.kind === 'refused' && dialled.refusal).toEqual({
      status: 302,
      statusMessage: 'Found',
      headers: { Location: 'ws://elsewhere.test/' },
      body: Buffer.alloc(0),
      truncated: false,
      coding: undefined,
    });
    expect(upstream.requests).toHaveLength(1);
  });

  it('cuts a refusal body at 64 KiB', async () => {
    const body = Buffer.alloc(200 * 1024, 'e');
    body.write('start', 0);
    const upstream = await wsUpstream({
      refuse: (_req, socket) => {
        socket.write(`HTTP/1.1 500 Oops\r\ncontent-length: ${body.length}\r\n\r\n`);
        socket.end(body);
        return true;
      },
    });
    const dialled = await dial(upstream.url);
    if (dialled.kind !== 'refused') throw new Error('expected a refusal');
    expect(dialled.refusal.status).toBe(500);
    expect(dialled.refusal.body.equals(body.subarray(0, 64 * 1024))).toBe(true);
    expect(dialled.refusal.truncated).toBe(true);
  });

  it('resolves a refusal whose body breaks off with what arrived', async () => {
    const upstream = await wsUpstream({
      refuse: (_req, socket) => {
        socket.write('HTTP/1.1 403 Forbidden\r\ncontent-length: 1000\r\n\r\npartial', () =>
          socket.destroy(),
        );
        return true;
      },
    });
    const dialled = await dial(upstream.url);
    if (dialled.kind !== 'refused') throw new Error('expected a refusal');
    expect(dialled.refusal.status).toBe(403);
    expect(dialled.refusal.body.toString()).toBe('partial');
    expect(dialled.refusal.truncated).toBe(true);
  });

  it('rejects with ws’s SyntaxError for a URL or subprotocol it refuses', async () => {
    await expect(dial('ftp://127.0.0.1:1/')).rejects.toThrow(SyntaxError);
    await expect(dial('not a url')).rejects.toThrow(SyntaxError);
    await expect(dial('ws://127.0.0.1:1/', { protocols: ['not a token'] })).rejects.toThrow(
      SyntaxError,
    );
  });

  it('rejects with the network error when the upstream cannot be reached', async () => {
    const port = await closedPort();
    await expect(dial(`ws://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects when the upstream selects none of the offered subprotocols', async () => {
    const upstream = await wsUpstream({ handleProtocols: () => false });
    await expect(dial(upstream.url, { protocols: ['chat'] })).rejects.toThrow(
      /server sent no subprotocol/i,
    );
  });

  it('rejects with UpstreamTimeoutError when the upstream does not answer within timeoutMs, and closes the connection', async () => {
    const upstream = await tcpUpstream((socket) => socket.resume());
    await expect(dial(upstream.url, { timeoutMs: 200 })).rejects.toThrow(
      new UpstreamTimeoutError('no answer to the upgrade within 200 ms'),
    );
    await closedSocket(upstream.sockets[0]);
  });

  it('bounds the whole answer, not the silence between its bytes: a trickled 101 is cut at timeoutMs', async () => {
    // ws's own handshakeTimeout is an idle timer, which every byte of this resets.
    const upstream = await tcpUpstream((socket) =>
      trickle(socket, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n', 40),
    );
    const started = performance.now();
    await expect(dial(upstream.url, { timeoutMs: 400 })).rejects.toBeInstanceOf(
      UpstreamTimeoutError,
    );
    expect(performance.now() - started).toBeLessThan(2_000);
    await closedSocket(upstream.sockets[0]);
  });

  it('resolves a refusal at 64 KiB without waiting for a body that never ends', async () => {
    const upstream = await tcpUpstream((socket) => {
      socket.write(
        'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n',
      );
      const chunk = `4000\r\n${'x'.repeat(0x4000)}\r\n`;
      const timer = setInterval(() => socket.write(chunk), 5);
      socket.once('close', () => clearInterval(timer));
    });
    const dialled = await dial(upstream.url, { timeoutMs: 5_000 });
    expect(dialled.kind).toBe('refused');
    if (dialled.kind !== 'refused') return;
    expect(dialled.refusal.status).toBe(403);
    expect(dialled.refusal.body.length).toBe(64 * 1024);
    expect(dialled.refusal.truncated).toBe(true);
    await closedSocket(upstream.sockets[0]);
  });

  it('gives up when its signal aborts (the agent left): AgentClosedError, the connection closed', async () => {
    const upstream = await tcpUpstream((socket) => socket.resume());
    const abort = new AbortController();
    const dialling = dial(upstream.url, { signal: abort.signal });
    await vi.waitFor(() => expect(upstream.sockets).toHaveLength(1));
    abort.abort();
    await expect(dialling).rejects.toBeInstanceOf(AgentClosedError);
    await closedSocket(upstream.sockets[0]);
  });

  it('does not dial at all with a signal already aborted', async () => {
    const upstream = await tcpUpstream((socket) => socket.resume());
    const abort = new AbortController();
    abort.abort();
    await expect(dial(upstream.url, { signal: abort.signal })).rejects.toBeInstanceOf(
      AgentClosedError,
    );
    // Refused before any connection is made.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(upstream.sockets).toEqual([]);
  });

  it('throws nothing when an open socket is closed before the relay, a broken frame unread', async () => {
    // Paused, the frame waits in the socket; ws parses it when the socket closes, and the
    // error it makes must have a listener (the agent left before its 101, or shutdown).
    const url = await rawUpstream((socket, accept) =>
      socket.write(Buffer.concat([accept, Buffer.from([0x83, 0x00])])),
    );
    const socket = opened(await dial(url));
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    cleanups.push(() => void process.off('uncaughtException', onUncaught));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.terminate();
    await closed;
    await new Promise((resolve) => setImmediate(resolve));
    expect(uncaught).toEqual([]);
  });
});

describe('relayWebSocket', () => {
  it('relays text and binary messages both ways, as they were sent', async () => {
    const upstream = await wsUpstream();
    const { agent } = await relayTo(upstream.url);
    const upstreamSide = upstream.sockets.at(-1)!;

    const up = messages(upstreamSide, 2);
    agent.send('hello up');
    agent.send(Buffer.from([0, 1, 2, 255]));
    const received = await up;
    expect(received.map((b) => [...b])).toEqual([[...Buffer.from('hello up')], [0, 1, 2, 255]]);

    const first = nextMessage(agent);
    upstreamSide.send('hello down');
    expect(await first).toEqual({ text: 'hello down', binary: false });
    const second = nextMessage(agent);
    upstreamSide.send(Buffer.from('bytes down'));
    expect(await second).toEqual({ text: 'bytes down', binary: true });
  });

  it('scrubs the upstream’s messages, not the agent’s, and shows the observer each upstream one scrubbed', async () => {
    const upstream = await wsUpstream();
    const { agent, events } = await relayTo(upstream.url, { scrubber: scrubber() });
    const upstreamSide = upstream.sockets.at(-1)!;

    const down = messages(agent, 2);
    upstreamSide.send(`{"echo":"${SECRET}","again":"${SECRET}"}`);
    upstreamSide.send(Buffer.from(`bin ${SECRET}`));
    const [text, binary] = await down;
    expect(shown(text)).toBe(`{"echo":"${PLACEHOLDER}","again":"${PLACEHOLDER}"}`);
    expect(shown(binary)).toBe(`bin ${PLACEHOLDER}`);

    // What the agent sends goes up as it is: the scrubber is for what comes back.
    const up = nextMessage(upstreamSide);
    agent.send(`agent ${SECRET}`);
    expect(shown((await up).text)).toBe('agent <SECRET>');

    expect(events.map(shown)).toEqual([
      `observed text {"echo":"${PLACEHOLDER}","again":"${PLACEHOLDER}"}`,
      `observed binary bin ${PLACEHOLDER}`,
    ]);
  });

  it('scrubs a value split across the fragments of a message and across TCP writes', async () => {
    const cut = 9;
    const url = await rawUpstream((socket, accept) => {
      socket.write(accept);
      const pieces = [
        frame(0x1, `key=${SECRET.slice(0, cut)}`, { fin: false }),
        // A control frame may come between the fragments of a message (RFC 6455 §5.4).
        frame(0x9, 'between'),
        frame(0x0, `${SECRET.slice(cut)} end`),
      ];
      const bytes = Buffer.concat(pieces);
      // Three bytes a write, each after the last went out: ws reads the frames in pieces.
      const writeFrom = (at: number) => {
        if (at >= bytes.length || socket.destroyed) return;
        socket.write(bytes.subarray(at, at + 3), () => setTimeout(() => writeFrom(at + 3), 1));
      };
      socket.once('data', () => writeFrom(0));
    });
    const { agent } = await relayTo(url, { scrubber: scrubber() });
    const received = nextMessage(agent);
    agent.send('go');
    const { text, binary } = await received;
    expect([shown(text), binary]).toEqual([`key=${PLACEHOLDER} end`, false]);
  });

  it('carries close codes and reasons both ways, the upstream’s reason scrubbed', async () => {
    const upstream = await wsUpstream();
    const first = await relayTo(upstream.url, { scrubber: scrubber() });
    const agentClosed = closeOf(first.agent);
    upstream.sockets.at(-1)!.close(4001, `bye ${SECRET}`);
    const { code, reason } = await agentClosed;
    expect(code).toBe(4001);
    expect(shown(reason)).toBe(`bye ${PLACEHOLDER}`);
    await first.closed;
    // The observer is told once, when both sides are closed, before onClose.
    expect(first.events).toEqual(['observer closed', 'onClose']);

    const second = await relayTo(upstream.url, { scrubber: scrubber() });
    const upstreamClosed = closeOf(upstream.sockets.at(-1)!);
    second.agent.close(4002, 'agent says bye');
    const fromAgent = await upstreamClosed;
    expect([fromAgent.code, fromAgent.reason.toString()]).toEqual([4002, 'agent says bye']);
    await second.closed;
    expect(second.events).toEqual(['observer closed', 'onClose']);
  });

  it('keeps a scrubbed close reason within the 123 bytes a close frame allows, as valid UTF-8', async () => {
    // A short value with a longer placeholder: the reason grows past 123 bytes, and its cut
    // falls inside a two-byte character.
    const short = 'sk-1';
    const reason = `${short} ${'é'.repeat(59)}`;
    expect(Buffer.byteLength(reason)).toBe(123);
    const upstream = await wsUpstream();
    const { agent } = await relayTo(upstream.url, {
      scrubber: new SecretScrubber([short], PLACEHOLDER),
    });
    const agentClosed = closeOf(agent);
    upstream.sockets.at(-1)!.close(4000, reason);
    const closed = await agentClosed;
    expect(closed.code).toBe(4000);
    expect(closed.reason.length).toBeLessThanOrEqual(123);
    expect(closed.reason.toString()).toBe(`${PLACEHOLDER} ${'é'.repeat(51)}`);
  });

  it('closes the other side without a code when one closes without one (1005)', async () => {
    const upstream = await wsUpstream();
    const first = await relayTo(upstream.url);
    const agentClosed = closeOf(first.agent);
    upstream.sockets.at(-1)!.close();
    expect((await agentClosed).code).toBe(1005);

    const second = await relayTo(upstream.url);
    const upstreamClosed = closeOf(upstream.sockets.at(-1)!);
    second.agent.close();
    expect((await upstreamClosed).code).toBe(1005);
    await second.closed;
  });

  it('drops the agent’s connection when the upstream’s drops (1006), and the other way round', async () => {
    const upstream = await wsUpstream();
    const first = await relayTo(upstream.url);
    const agentClosed = closeOf(first.agent);
    upstream.sockets.at(-1)!.terminate();
    expect((await agentClosed).code).toBe(1006);
    await first.closed;

    const second = await relayTo(upstream.url);
    const upstreamClosed = closeOf(upstream.sockets.at(-1)!);
    second.agent.terminate();
    expect((await upstreamClosed).code).toBe(1006);
    await second.closed;
    expect(second.events).toEqual(['observer closed', 'onClose']);
  });

  it('drops the agent’s connection when the upstream resets its own', async () => {
    let reset!: () => void;
    const url = await rawUpstream((socket, accept) => {
      socket.write(accept);
      reset = () => socket.resetAndDestroy();
    });
    const relayed = await relayTo(url);
    const agentClosed = closeOf(relayed.agent);
    reset();
    expect((await agentClosed).code).toBe(1006);
    await relayed.closed;
  });

  it('ends both sides when the upstream breaks the protocol, with nothing thrown', async () => {
    let send!: (bytes: Buffer) => void;
    const url = await rawUpstream((socket, accept) => {
      socket.write(accept);
      send = (bytes) => socket.write(bytes);
    });
    const relayed = await relayTo(url);
    const agentClosed = closeOf(relayed.agent);
    // A server must not mask its frames (RFC 6455 §5.1): ws fails the connection (1002).
    send(frame(0x1, 'masked', { mask: Buffer.from([1, 2, 3, 4]) }));
    expect((await agentClosed).code).toBe(1006);
    await relayed.closed;
  });

  it('drops, unobserved, an upstream message that comes while the agent’s side is closing', async () => {
    const upstream = await wsUpstream();
    const { port, sides, events } = await relayProxy(upstream.url, {});
    // A raw agent that sends its close frame and then neither reads a reply nor ends: Keygate's
    // side of it stays CLOSING (ws waits for the TCP close), while the upstream is still open.
    // allowHalfOpen: Keygate's FIN after its close reply does not end this side.
    const agent = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    cleanups.push(() => agent.destroy());
    const afterHandshake: Buffer[] = [];
    let head = '';
    agent.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return void afterHandshake.push(chunk);
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end >= 0) afterHandshake.push(Buffer.from(head.slice(end + 4), 'latin1'));
    });
    agent.write(
      'GET /socket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const { agentSide, upstream: keygateUpstream } = await sides;
    const closePayload = Buffer.from([0x03, 0xe8]);
    agent.write(frame(0x8, closePayload, { mask: Buffer.from([9, 8, 7, 6]) }));
    await vi.waitFor(() => expect(agentSide.readyState).toBe(WebSocket.CLOSING));

    // Listeners run in order: once this one has the message, the relay's has had it.
    const reachedKeygate = nextMessage(keygateUpstream);
    upstream.sockets.at(-1)!.send('late');
    expect(await reachedKeygate).toEqual({ text: 'late', binary: false });
    expect(agentSide.readyState).toBe(WebSocket.CLOSING);
    expect(events).toEqual([]);
    // The agent got Keygate's close reply and nothing more.
    expect(Buffer.concat(afterHandshake).equals(frame(0x8, closePayload))).toBe(true);
  });

  it('answers pings on each hop itself and forwards none', async () => {
    const upstream = await wsUpstream();
    const { agent } = await relayTo(upstream.url);
    const upstreamSide = upstream.sockets.at(-1)!;
    const agentPings: string[] = [];
    const upstreamPings: string[] = [];
    agent.on('ping', (data: Buffer) => agentPings.push(data.toString()));
    upstreamSide.on('ping', (data: Buffer) => upstreamPings.push(data.toString()));

    const upstreamPong = new Promise<string>((r) =>
      upstreamSide.once('pong', (data: Buffer) => r(data.toString())),
    );
    upstreamSide.ping('from upstream');
    expect(await upstreamPong).toBe('from upstream');
    const agentPong = new Promise<string>((r) =>
      agent.once('pong', (data: Buffer) => r(data.toString())),
    );
    agent.ping('from agent');
    expect(await agentPong).toBe('from agent');

    // A message after each ping, on the same connections: a forwarded ping would be there first.
    const down = nextMessage(agent);
    upstreamSide.send('after');
    await down;
    const up = nextMessage(upstreamSide);
    agent.send('after');
    await up;
    expect(agentPings).toEqual([]);
    expect(upstreamPings).toEqual([]);
  });

  it('stops reading the upstream while the agent does not read, then delivers everything in order', async () => {
    const upstream = await wsUpstream();
    const relayed = await relayTo(upstream.url, { highWaterMark: 64 * 1024 });
    const upstreamSide = upstream.sockets.at(-1)!;
    const COUNT = 64;
    const size = 256 * 1024;
    relayed.agent.pause();
    for (let i = 0; i < COUNT; i++) upstreamSide.send(Buffer.alloc(size, i));
    // Once the loopback buffers towards the agent are full, what Keygate sent is not written
    // out, and it stops reading the upstream.
    await vi.waitFor(() => expect(relayed.upstream.isPaused).toBe(true), { timeout: 10_000 });

    const all = messages(relayed.agent, COUNT);
    relayed.agent.resume();
    const received = await all;
    expect(received.map((m) => [m.length, m[0]])).toEqual(
      Array.from({ length: COUNT }, (_, i) => [size, i]),
    );
    expect(relayed.upstream.isPaused).toBe(false);
  });

  it('stops reading the agent while the upstream does not read, then delivers everything in order', async () => {
    const upstream = await wsUpstream();
    const relayed = await relayTo(upstream.url, { highWaterMark: 64 * 1024 });
    const upstreamSide = upstream.sockets.at(-1)!;
    const COUNT = 64;
    const size = 256 * 1024;
    upstreamSide.pause();
    for (let i = 0; i < COUNT; i++) relayed.agent.send(Buffer.alloc(size, i));
    await vi.waitFor(() => expect(relayed.agentSide.isPaused).toBe(true), { timeout: 10_000 });

    const all = messages(upstreamSide, COUNT);
    upstreamSide.resume();
    const received = await all;
    expect(received.map((m) => [m.length, m[0]])).toEqual(
      Array.from({ length: COUNT }, (_, i) => [size, i]),
    );
    expect(relayed.agentSide.isPaused).toBe(false);
  });
});

describe('relayWebSocket: beforeAgentMessage', () => {
  it('closes both sides with 1008 and the refusal as the reason; that message and later ones are not sent', async () => {
    const upstream = await wsUpstream();
    let allowed = 2;
    const refusals: unknown[] = [];
    const { agent } = await relayTo(upstream.url, {
      beforeAgentMessage: () => {
        if (allowed-- <= 0)
          throw new Error('budget exceeded: agent "a" used 100 of its 100 tokens today');
      },
      onRefused: (err) => refusals.push(err),
    });
    const upstreamSide = upstream.sockets.at(-1)!;
    const received: string[] = [];
    upstreamSide.on('message', (data: RawData) => received.push(String(data)));
    const agentClosed = closeOf(agent);
    const upstreamClosed = closeOf(upstreamSide);
    for (const text of ['one', 'two', 'three', 'four']) agent.send(text);
    const { code, reason } = await agentClosed;
    expect(code).toBe(1008);
    expect(String(reason)).toBe(
      'Keygate: budget exceeded: agent "a" used 100 of its 100 tokens today',
    );
    const upstreamSaw = await upstreamClosed;
    expect(upstreamSaw.code).toBe(1008);
    expect(String(upstreamSaw.reason)).toBe('');
    expect(received).toEqual(['one', 'two']);
    expect(refusals).toHaveLength(1);
  });
});

describe('relayWebSocket: what the upstream sends with its 101', () => {
  // The upstream's first frames can arrive in the very read that brought its 101, before the
  // agent's 101 is written and the relay is wired: a greeting, a close, a broken frame.
  it('delivers a message the upstream sent with its 101', async () => {
    const url = await rawUpstream((socket, accept) =>
      socket.write(Buffer.concat([accept, frame(0x1, `hello ${SECRET}`)])),
    );
    let greeting!: Promise<{ text: string; binary: boolean }>;
    await relayTo(url, {
      scrubber: scrubber(),
      onAgent: (agent) => (greeting = nextMessage(agent)),
    });
    expect(shown((await greeting).text)).toBe(`hello ${PLACEHOLDER}`);
  });

  it('closes the agent with the code an upstream sent with its 101', async () => {
    const url = await rawUpstream((socket, accept) =>
      socket.write(Buffer.concat([accept, closeFrame(4401, `unauthorized ${SECRET}`)])),
    );
    let agentClosed!: Promise<{ code: number; reason: Buffer }>;
    const relayed = await relayTo(url, {
      scrubber: scrubber(),
      onAgent: (agent) => (agentClosed = closeOf(agent)),
    });
    const { code, reason } = await agentClosed;
    expect(code).toBe(4401);
    expect(shown(reason)).toBe(`unauthorized ${PLACEHOLDER}`);
    await relayed.closed;
  });

  it('ends both sides, with nothing thrown, when the upstream breaks the protocol with its 101', async () => {
    const url = await rawUpstream((socket, accept) =>
      socket.write(Buffer.concat([accept, frame(0x1, 'x', { mask: Buffer.from([1, 2, 3, 4]) })])),
    );
    let agentClosed!: Promise<{ code: number; reason: Buffer }>;
    const relayed = await relayTo(url, { onAgent: (agent) => (agentClosed = closeOf(agent)) });
    expect((await agentClosed).code).toBe(1006);
    await relayed.closed;
  });
});
