/**
 * Terminates the agent's TLS inside the CONNECT tunnel, in-process: no second listener, no TCP
 * hop (closes docs/decisions/0002, defects 1 and 8). The leaf is minted for the CONNECT target, not for
 * whatever SNI the agent sends, so a certificate is only ever issued for the host Keygate will
 * forward to.
 *
 * The caller has already answered the CONNECT (200): the agent's ClientHello, read while the leaf
 * was being minted, waits in the paused socket and is handed to the TLSSocket here.
 */
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';

export interface TerminationHandlers {
  onSecure(socket: TLSSocket): void;
  onHandshakeError(err: Error): void;
}

export function terminateTls(
  client: Duplex,
  head: Buffer,
  secureContext: SecureContext,
  handshakeTimeoutMs: number,
  handlers: TerminationHandlers,
): TLSSocket {
  if (head.length > 0) client.unshift(head);
  const socket = new TLSSocket(client as import('node:net').Socket, {
    isServer: true,
    secureContext,
    // HTTP/1.1 only: the request rewriting works on HTTP/1.1, and clients fall back cleanly.
    ALPNProtocols: ['http/1.1'],
  });
  const timer = setTimeout(
    () => socket.destroy(new Error('TLS handshake timed out')),
    handshakeTimeoutMs,
  );
  timer.unref();
  let secure = false;
  socket.once('secure', () => {
    secure = true;
    clearTimeout(timer);
    handlers.onSecure(socket);
  });
  socket.on('error', (err) => {
    clearTimeout(timer);
    if (!secure) handlers.onHandshakeError(err);
    socket.destroy();
  });
  socket.on('close', () => client.destroy());
  return socket;
}
