/**
 * What a test opens is closed after it: `cleanups` run in reverse after each test, and `listen`
 * puts a server on 127.0.0.1 whose connections are destroyed and which is closed then.
 */
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

export interface Cleanups {
  readonly cleanups: Array<() => unknown>;
  listen(server: net.Server): Promise<number>;
}

/** Call once at a test file's top level. */
export function cleanupAfterEach(): Cleanups {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  async function listen(server: net.Server): Promise<number> {
    const sockets = new Set<net.Socket>();
    server.on('connection', (socket: net.Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    );
    return (server.address() as AddressInfo).port;
  }
  return { cleanups, listen };
}
