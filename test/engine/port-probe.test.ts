import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { portBindable } from '../../src/engine/port-probe.js';

function listen(server: net.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('portBindable', () => {
  it('is true for a free port and leaves it free', async () => {
    const holder = net.createServer();
    const port = await listen(holder);
    await close(holder);
    expect(await portBindable('127.0.0.1', port)).toBe(true);
    // The probe released it: it can be bound again.
    const again = net.createServer();
    expect(await listen(again, port)).toBe(port);
    await close(again);
  });

  it('is false while something holds the port', async () => {
    const holder = net.createServer();
    const port = await listen(holder);
    try {
      expect(await portBindable('127.0.0.1', port)).toBe(false);
    } finally {
      await close(holder);
    }
  });

  it('is true when the holder is only another probe for a moment (two doctors at once)', async () => {
    const holder = net.createServer();
    const port = await listen(holder);
    // Released 30 ms in, well within the retries: a second doctor's probe, not a service.
    setTimeout(() => void close(holder), 30);
    expect(await portBindable('127.0.0.1', port)).toBe(true);
  });

  it('is true for ten probes of the same port at once', async () => {
    const holder = net.createServer();
    const port = await listen(holder);
    await close(holder);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => portBindable('127.0.0.1', port)),
    );
    expect(results).toEqual(Array(10).fill(true));
  });

  it('is false for an address this machine does not have (EADDRNOTAVAIL, not retried)', async () => {
    expect(await portBindable('192.0.2.1', 20999)).toBe(false);
  });
});
