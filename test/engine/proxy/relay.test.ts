/**
 * Relay (src/engine/proxy/relay.ts): a response streamed through stages to the agent, with
 * backpressure, one end callback, and everything torn down when any part fails.
 */
import net from 'node:net';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { relay } from '../../../src/engine/proxy/relay.js';

const servers: net.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

function collector(): { stream: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { stream, chunks };
}

function upperCase(): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, Buffer.from(chunk.toString('utf8').toUpperCase()));
    },
  });
}

function whenDone(): {
  done: (err?: Error) => void;
  calls: Array<Error | undefined>;
  settled: Promise<Error | undefined>;
} {
  const calls: Array<Error | undefined> = [];
  let resolve!: (err: Error | undefined) => void;
  const settled = new Promise<Error | undefined>((r) => (resolve = r));
  return {
    calls,
    settled,
    done: (err) => {
      calls.push(err);
      resolve(err);
    },
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('relay', () => {
  it('streams the source through every stage, in order, and ends without an error', async () => {
    const { stream, chunks } = collector();
    const end = whenDone();
    const prefix = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        callback(null, Buffer.concat([Buffer.from('>'), chunk]));
      },
    });
    relay(
      Readable.from([Buffer.from('ab'), Buffer.from('cd')]),
      [upperCase(), prefix],
      stream,
      end.done,
    );
    expect(await end.settled).toBeUndefined();
    expect(Buffer.concat(chunks).toString()).toBe('>AB>CD');
    await tick();
    expect(end.calls).toEqual([undefined]);
  });

  it('relays with no stages at all', async () => {
    const { stream, chunks } = collector();
    const end = whenDone();
    relay(Readable.from([Buffer.from('plain')]), [], stream, end.done);
    expect(await end.settled).toBeUndefined();
    expect(Buffer.concat(chunks).toString()).toBe('plain');
  });

  it('stops reading the source while the destination is slow, and resumes on drain', async () => {
    const total = 64;
    let produced = 0;
    const source = new Readable({
      highWaterMark: 16,
      read() {
        if (produced === total) this.push(null);
        else this.push(Buffer.alloc(16, produced++));
      },
    });
    const held: Array<() => void> = [];
    let received = 0;
    const destination = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        held.push(callback);
      },
    });
    const end = whenDone();
    relay(source, [new PassThrough({ highWaterMark: 16 })], destination, end.done);
    for (let i = 0; i < 20; i++) await tick();
    // Only a few buffers' worth is in flight: the source was not drained into memory.
    expect(produced).toBeLessThan(10);
    expect(received).toBe(16);
    expect(end.calls).toEqual([]);
    while (end.calls.length === 0) {
      held.splice(0).forEach((callback) => callback());
      await tick();
    }
    expect(end.calls).toEqual([undefined]);
    expect(produced).toBe(total);
    expect(received).toBe(total * 16);
  });

  it('a failing stage ends the relay with its error, once, and destroys every stream', async () => {
    const source = new PassThrough();
    const broken = new Transform({
      transform(_chunk, _encoding, callback) {
        callback(new Error('bad gzip'));
      },
    });
    const after = new PassThrough();
    const { stream } = collector();
    const end = whenDone();
    relay(source, [broken, after], stream, end.done);
    source.write('x');
    expect((await end.settled)?.message).toBe('bad gzip');
    await tick();
    expect(end.calls).toHaveLength(1);
    for (const part of [source, broken, after, stream]) expect(part.destroyed).toBe(true);
  });

  it('a source error (the upstream reset) ends the relay with it and destroys the destination', async () => {
    const source = new PassThrough();
    const { stream } = collector();
    const end = whenDone();
    relay(source, [], stream, end.done);
    source.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    const err = await end.settled;
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(stream.destroyed).toBe(true);
    await tick();
    expect(end.calls).toHaveLength(1);
  });

  it('the destination closing early is a premature close, and the source is destroyed', async () => {
    const source = new PassThrough();
    const { stream } = collector();
    const end = whenDone();
    relay(source, [], stream, end.done);
    source.write('partial');
    await tick();
    stream.destroy();
    const err = await end.settled;
    expect((err as NodeJS.ErrnoException).code).toBe('ERR_STREAM_PREMATURE_CLOSE');
    expect(source.destroyed).toBe(true);
    await tick();
    expect(end.calls).toHaveLength(1);
  });

  describe('to a real socket on 127.0.0.1', () => {
    async function serve(onSocket: (socket: net.Socket) => void): Promise<number> {
      const server = net.createServer(onSocket);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as net.AddressInfo).port;
    }

    it('delivers a large body whole and ends without an error', async () => {
      const body = Buffer.alloc(4 * 1024 * 1024, 'k');
      const end = whenDone();
      const port = await serve((socket) =>
        relay(
          Readable.from([body.subarray(0, 1 << 21), body.subarray(1 << 21)]),
          [],
          socket,
          end.done,
        ),
      );
      const got = await new Promise<number>((resolve, reject) => {
        let length = 0;
        const client = net.connect({ host: '127.0.0.1', port });
        client.on('data', (chunk: Buffer) => (length += chunk.length));
        client.on('end', () => resolve(length));
        client.on('error', reject);
      });
      expect(got).toBe(body.length);
      expect(await end.settled).toBeUndefined();
    });

    it('the agent hanging up mid-body stops the upstream read with an error', async () => {
      const source = new Readable({
        read() {
          this.push(Buffer.alloc(64 * 1024, 'x'));
        },
      });
      const end = whenDone();
      const port = await serve((socket) => relay(source, [], socket, end.done));
      await new Promise<void>((resolve, reject) => {
        const client = net.connect({ host: '127.0.0.1', port });
        client.once('data', () => {
          client.destroy();
          resolve();
        });
        client.on('error', reject);
      });
      const err = await end.settled;
      expect(err).toBeInstanceOf(Error);
      expect(source.destroyed).toBe(true);
    });
  });
});
