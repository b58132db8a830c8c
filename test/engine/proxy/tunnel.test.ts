/**
 * openTunnel and logTunnelFailure (src/engine/proxy/tunnel.ts): the byte-for-byte tunnel for
 * hosts Keygate does not intercept. onOpen once the upstream accepted, before the client's 200
 * and any byte; then the head first, every byte both ways unchanged, and either end's close or
 * error closing the other. A dial that fails or outlasts the connect timeout is onFailure, with
 * the client left unanswered for the caller. Real sockets on 127.0.0.1 on both sides.
 */
import type { LookupAddress } from 'node:dns';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamUnreachableError } from '../../../src/engine/errors.js';
import { createLogger } from '../../../src/engine/log/logger.js';
import type { LookupFunction } from '../../../src/engine/proxy/dns-lookup.js';
import {
  CONNECTION_ESTABLISHED,
  logTunnelFailure,
  openTunnel,
  type TunnelHandlers,
} from '../../../src/engine/proxy/tunnel.js';
import { closedPort } from '../../helpers/hostile-upstream.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(onConnection: (socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

interface Upstream {
  readonly port: number;
  received(): Buffer;
  /** The upstream's side of each connection, in order. */
  readonly sockets: net.Socket[];
}

/** Records what it receives; `onData` may answer. */
async function startUpstream(
  onData?: (socket: net.Socket, chunk: Buffer) => void,
): Promise<Upstream> {
  const chunks: Buffer[] = [];
  const sockets: net.Socket[] = [];
  const port = await listen((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      onData?.(socket, chunk);
    });
  });
  return { port, received: () => Buffer.concat(chunks), sockets };
}

interface Tunnel {
  /** The test's end: the agent's socket to the "proxy". */
  readonly agent: net.Socket;
  /** The proxy's side of the agent's connection, as openTunnel got it. */
  proxySide(): net.Socket | undefined;
  readonly events: string[];
  readonly failures: Error[];
  /** Everything the agent received. */
  received(): Buffer;
}

/** A "proxy" on 127.0.0.1 that opens a tunnel for the first connection it accepts. */
async function startTunnel(options: {
  destination: { host: string; port: number; lookup?: LookupFunction };
  head?: Buffer;
  connectTimeoutMs?: number;
  onFailure?: (proxySide: net.Socket, err: Error) => void;
}): Promise<Tunnel> {
  const events: string[] = [];
  const failures: Error[] = [];
  let proxySide: net.Socket | undefined;
  let received = Buffer.alloc(0);
  const port = await listen((socket) => {
    proxySide = socket;
    const handlers: TunnelHandlers = {
      onOpen: () => events.push(`open, agent had ${received.length} bytes`),
      onFailure: (err) => {
        events.push('failure');
        failures.push(err);
        options.onFailure?.(socket, err);
      },
    };
    openTunnel(
      socket,
      options.head ?? Buffer.alloc(0),
      options.destination,
      options.connectTimeoutMs ?? 5_000,
      handlers,
    );
  });
  const agent = net.connect(port, '127.0.0.1');
  agent.on('error', () => undefined);
  agent.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  cleanups.push(() => void agent.destroy());
  await new Promise<void>((resolve) => agent.once('connect', resolve));
  return { agent, proxySide: () => proxySide, events, failures, received: () => received };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) =>
    socket.destroyed ? resolve() : socket.once('close', () => resolve()),
  );
}

const ESTABLISHED = Buffer.from(CONNECTION_ESTABLISHED);

describe('openTunnel: once the upstream accepts', () => {
  it('calls onOpen before the 200, writes the 200, sends the head first, then relays both ways', async () => {
    const upstream = await startUpstream((socket, chunk) =>
      socket.write(Buffer.from(chunk).reverse()),
    );
    const tunnel = await startTunnel({
      destination: { host: '127.0.0.1', port: upstream.port },
      head: Buffer.from('head;'),
    });
    await until(() => tunnel.received().length >= ESTABLISHED.length, 'the 200');
    expect(CONNECTION_ESTABLISHED).toBe('HTTP/1.1 200 Connection Established\r\n\r\n');
    expect(tunnel.events).toEqual(['open, agent had 0 bytes']);
    await until(() => upstream.received().length === 5, 'the head');
    tunnel.agent.write('body');
    await until(() => upstream.received().length === 9, "the agent's bytes");
    expect(upstream.received().toString()).toBe('head;body');
    await until(() => tunnel.received().length === ESTABLISHED.length + 9, 'the answers');
    expect(tunnel.received().toString()).toBe(`${CONNECTION_ESTABLISHED};daehydob`);
  });

  it('carries every byte value unchanged, 4 MiB each way', async () => {
    const size = 4 * 1024 * 1024;
    const pattern = Buffer.alloc(size);
    for (let i = 0; i < size; i++) pattern[i] = (i * 7 + (i >> 8)) & 0xff;
    const upstream = await startUpstream();
    const tunnel = await startTunnel({ destination: { host: '127.0.0.1', port: upstream.port } });
    await until(() => tunnel.received().length >= ESTABLISHED.length, 'the 200');
    tunnel.agent.write(pattern);
    await until(() => upstream.received().length === size, 'the upload');
    expect(upstream.received().equals(pattern)).toBe(true);
    // Then the upstream sends the same 4 MiB back.
    upstream.sockets[0]?.write(pattern);
    await until(() => tunnel.received().length === ESTABLISHED.length + size, 'the download');
    expect(tunnel.received().subarray(ESTABLISHED.length).equals(pattern)).toBe(true);
  });

  it('dials with the lookup it is given (the agent’s DNS lane)', async () => {
    const upstream = await startUpstream();
    const asked: string[] = [];
    const lookup: LookupFunction = (hostname, options, callback) => {
      asked.push(hostname);
      const address: LookupAddress = { address: '127.0.0.1', family: 4 };
      if (options.all === true) callback(null, [address]);
      else callback(null, address.address, address.family);
    };
    const tunnel = await startTunnel({
      destination: { host: 'upstream.tunnel.test', port: upstream.port, lookup },
    });
    await until(() => tunnel.events.length > 0, 'the tunnel to open');
    expect(tunnel.events).toEqual(['open, agent had 0 bytes']);
    expect(asked).toEqual(['upstream.tunnel.test']);
  });

  it('the connect timeout stops mattering once connected: an idle tunnel stays open', async () => {
    const upstream = await startUpstream();
    const tunnel = await startTunnel({
      destination: { host: '127.0.0.1', port: upstream.port },
      connectTimeoutMs: 50,
    });
    await until(() => tunnel.events.length > 0, 'the tunnel to open');
    await new Promise((r) => setTimeout(r, 150));
    tunnel.agent.write('late');
    await until(() => upstream.received().length === 4, 'the late bytes');
    expect(tunnel.agent.destroyed).toBe(false);
    expect(tunnel.failures).toEqual([]);
  });

  it.each([
    ['closes', (socket: net.Socket) => socket.end()],
    ['resets', (socket: net.Socket) => socket.resetAndDestroy()],
  ])('the upstream %s → the agent is closed', async (_how, end) => {
    const upstream = await startUpstream();
    const tunnel = await startTunnel({ destination: { host: '127.0.0.1', port: upstream.port } });
    await until(() => upstream.sockets.length > 0 && tunnel.events.length > 0, 'the tunnel');
    end(upstream.sockets[0]!);
    await closed(tunnel.agent);
    expect(tunnel.proxySide()?.destroyed).toBe(true);
    expect(tunnel.failures).toEqual([]);
  });

  it.each([
    ['closes', (socket: net.Socket) => socket.end()],
    ['resets', (socket: net.Socket) => socket.resetAndDestroy()],
  ])('the agent %s → the upstream connection is closed', async (_how, end) => {
    const upstream = await startUpstream();
    const tunnel = await startTunnel({ destination: { host: '127.0.0.1', port: upstream.port } });
    await until(() => upstream.sockets.length > 0 && tunnel.events.length > 0, 'the tunnel');
    end(tunnel.agent);
    await closed(upstream.sockets[0]!);
    expect(upstream.sockets[0]?.destroyed).toBe(true);
  });
});

describe('openTunnel: when the upstream cannot be reached', () => {
  it('refused → onFailure with ECONNREFUSED; no onOpen, and the agent is not answered', async () => {
    const port = await closedPort();
    const tunnel = await startTunnel({
      destination: { host: '127.0.0.1', port },
      // The caller's answer, as connect.ts writes its named error.
      onFailure: (socket) => socket.end('caller answered'),
    });
    await closed(tunnel.agent);
    expect(tunnel.events).toEqual(['failure']);
    expect((tunnel.failures[0] as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNREFUSED');
    // Nothing but the caller's answer: no 200 was written.
    expect(tunnel.received().toString()).toBe('caller answered');
  });

  it('not connected within connectTimeoutMs → onFailure with ETIMEDOUT, once', async () => {
    // A lookup that never answers: the dial never gets as far as a connect.
    const lookup: LookupFunction = () => undefined;
    const started = performance.now();
    const tunnel = await startTunnel({
      destination: { host: 'hangs.tunnel.test', port: 443, lookup },
      connectTimeoutMs: 100,
    });
    await until(() => tunnel.failures.length > 0, 'onFailure');
    const elapsed = performance.now() - started;
    await new Promise((r) => setTimeout(r, 50));
    expect(tunnel.events).toEqual(['failure']);
    expect(tunnel.failures[0]?.message).toBe('connect timed out');
    expect((tunnel.failures[0] as NodeJS.ErrnoException | undefined)?.code).toBe('ETIMEDOUT');
    expect(elapsed).toBeGreaterThanOrEqual(90);
    expect(elapsed).toBeLessThan(1_000);
    // No 200: answering is the caller's (connect.ts's 504), in onFailure; the dead dial's close
    // then ends the agent's connection too.
    expect(tunnel.received().length).toBe(0);
    await closed(tunnel.agent);
  });
});

describe('logTunnelFailure', () => {
  it('logs "tunnel failed" at info with the code, host:port, agent and reason', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', sink: (line) => lines.push(line) });
    const error = new UpstreamUnreachableError(
      'tunnel to db.example.com:5432: could not reach the upstream (ECONNREFUSED: connect)',
    );
    logTunnelFailure(log, { host: 'db.example.com', port: 5432, agent: { name: 'claude' } }, error);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\S+ info {2}tunnel failed code=keygate_upstream_unreachable host=db\.example\.com:5432 agent=claude reason="tunnel to db\.example\.com:5432: could not reach the upstream \(ECONNREFUSED: connect\)"$/,
    );
  });

  it('is silent below info (serve --log-level warn)', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', sink: (line) => lines.push(line) });
    logTunnelFailure(log, { host: 'a.test', port: 443 }, new UpstreamUnreachableError('x'));
    expect(lines).toEqual([]);
  });
});
