/**
 * Byte-for-byte tunnel for hosts Keygate does not intercept. The agent sees the upstream's own
 * certificate; Keygate sees only ciphertext. `pipe` honours backpressure in both directions.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { KeygateError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Destination } from './connect-to.js';
import type { LookupFunction } from './dns-lookup.js';

export interface TunnelHandlers {
  /** Called once the upstream accepted the connection, before any byte flows. */
  onOpen(): void;
  /** Called when the upstream could not be reached; the client has not been answered yet. */
  onFailure(err: Error): void;
}

/**
 * A tunnel that could not be opened is logged like a failed intercepted request ("request
 * failed"), so an unreachable unmapped host is not silent in `serve`'s log (issue 11 §4).
 */
export function logTunnelFailure(
  log: Logger,
  target: { host: string; port: number; agent?: { name: string } },
  error: KeygateError,
): void {
  log.info('tunnel failed', {
    code: error.errorId,
    host: `${target.host}:${target.port}`,
    agent: target.agent?.name,
    reason: error.message,
  });
}

export const CONNECTION_ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

export function openTunnel(
  client: Duplex,
  head: Buffer,
  /** With the agent's unmapped-lane `lookup` (dns-lookup.ts); Node's default when absent. */
  destination: Destination & { readonly lookup?: LookupFunction },
  connectTimeoutMs: number,
  handlers: TunnelHandlers,
): void {
  const { host, port, lookup } = destination;
  const upstream = net.connect({ host, port, noDelay: true, ...(lookup ? { lookup } : {}) });
  let connected = false;
  upstream.setTimeout(connectTimeoutMs, () => {
    if (!connected)
      upstream.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
  });
  upstream.once('connect', () => {
    connected = true;
    upstream.setTimeout(0);
    handlers.onOpen();
    client.write(CONNECTION_ESTABLISHED);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on('error', (err) => {
    if (!connected) handlers.onFailure(err);
    else client.destroy();
  });
  upstream.on('close', () => client.destroy());
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
}
