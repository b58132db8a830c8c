/**
 * Innocent bystanders for the reliability suites: one long-lived keep-alive intercepted
 * connection and one SSE stream, opened before the first bad input and checked after every
 * case. A bad input must leave the proxy alive (`/healthz`) and disturb neither of them.
 */
import http from 'node:http';
import type tls from 'node:tls';
import { ProxyAgent, request } from 'undici';
import { expect } from 'vitest';
import { openInterceptedSocket } from './raw-tunnel.js';
import { requestOn } from './raw-http.js';

export interface Bystanders {
  /** /healthz answers, the long-lived connection still works, the stream still flows. */
  check(): Promise<void>;
  /** Final checks (no event lost or repeated), then closes both. */
  finish(): Promise<{ exchanges: number; events: number }>;
}

export function healthz(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('/healthz did not answer within 5 s')));
    req.on('error', reject);
  });
}

export async function expectHealthy(port: number): Promise<void> {
  const health = await healthz(port);
  expect(health.status).toBe(200);
  expect(JSON.parse(health.body)).toEqual({ ok: true, service: 'keygate' });
}

/**
 * `host` must be mapped (intercepted) and routed to an upstream that answers `/ok` with 200
 * and streams `/sse-forever` (test/helpers/hostile-upstream.ts).
 */
export async function startBystanders(options: {
  proxyPort: number;
  proxyUrl: string;
  caPem: string;
  host: string;
}): Promise<Bystanders> {
  const { proxyPort, proxyUrl, caPem, host } = options;
  const socket: tls.TLSSocket = await openInterceptedSocket(proxyUrl, host, caPem);
  let exchanges = 0;
  const exchange = async (): Promise<void> => {
    expect(socket.destroyed, 'the long-lived connection was closed').toBe(false);
    const result = await requestOn(
      socket,
      `GET /ok?n=${exchanges} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer placeholder\r\n\r\n`,
    );
    expect(result.closed, 'the long-lived connection was closed').toBe(false);
    expect(result.response?.status, result.raw.slice(0, 200)).toBe(200);
    expect(result.response?.body).toBe('{"ok":true}');
    exchanges++;
  };
  await exchange();

  const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: caPem } });
  const stream = await request(`https://${host}/sse-forever?gap=25`, { dispatcher });
  expect(stream.statusCode).toBe(200);
  const events: number[] = [];
  let streamError: unknown;
  let streamEnded = false;
  const waiters = new Set<() => void>();
  const consumed = (async () => {
    let text = '';
    try {
      for await (const chunk of stream.body) {
        text += (chunk as Buffer).toString('utf8');
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          events.push(Number(/^data: (\d+)$/.exec(text.slice(0, end))?.[1] ?? NaN));
          text = text.slice(end + 2);
        }
        waiters.forEach((wake) => wake());
      }
      streamEnded = true;
    } catch (err) {
      streamError = err;
    }
    waiters.forEach((wake) => wake());
  })();

  /** Resolves once the stream delivered more than `count` events (or failed, or 5 s passed). */
  const moreThan = (count: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        if (events.length > count || streamError !== undefined || streamEnded) {
          waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(wake);
        resolve();
      }, 5_000);
      waiters.add(wake);
      wake();
    });

  const checkStream = async () => {
    const before = events.length;
    await moreThan(before);
    expect(streamError, 'the SSE stream failed').toBeUndefined();
    expect(streamEnded, 'the SSE stream ended').toBe(false);
    expect(events.length, 'the SSE stream stalled').toBeGreaterThan(before);
  };
  await checkStream();

  return {
    check: async () => {
      await expectHealthy(proxyPort);
      await exchange();
      await checkStream();
    },
    finish: async () => {
      await checkStream();
      await exchange();
      // Every event exactly once and in order: nothing was lost or repeated on the way.
      expect(events).toEqual(events.map((_, i) => i));
      const result = { exchanges, events: events.length };
      stream.body.destroy();
      await consumed;
      socket.destroy();
      await dispatcher.destroy();
      return result;
    },
  };
}
