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
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HandshakeAbandonedError } from '../errors.js';

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
  // Keygate writes on this socket after the 200 only to answer a ClientHello (ServerHello and
  // certificate): if it did, the agent saw Keygate's certificate before it left. Bytes written,
  // not read: the agent's hello may already sit in the paused socket's buffer.
  const writtenBefore = (client as Partial<Socket>).bytesWritten ?? 0;
  const writtenSince = () => ((client as Partial<Socket>).bytesWritten ?? 0) - writtenBefore;
  const socket = new TLSSocket(client as Socket, {
    isServer: true,
    secureContext,
    // HTTP/1.1 only: the request rewriting works on HTTP/1.1, and clients fall back cleanly.
    ALPNProtocols: ['http/1.1'],
  });
  // Put back only now that the TLSSocket exists: it takes what the socket holds on its first
  // read (next tick). Unshifted before it, the 'readable' the unshift schedules ran first, and a
  // caller resuming the socket (connect.ts does) let the ClientHello flow out to no listener: an
  // agent that sent it with the CONNECT hung until the handshake timeout.
  if (head.length > 0) client.unshift(head);
  const timer = setTimeout(
    () => socket.destroy(new Error('TLS handshake timed out')),
    handshakeTimeoutMs,
  );
  timer.unref();
  let secure = false;
  let reported = false;
  const fail = (err: Error) => {
    clearTimeout(timer);
    if (secure || reported) return;
    reported = true;
    handlers.onHandshakeError(err);
  };
  socket.once('secure', () => {
    secure = true;
    clearTimeout(timer);
    handlers.onSecure(socket);
  });
  socket.on('error', (err) => {
    fail(err);
    socket.destroy();
  });
  // A Node client that rejects the leaf (the agent does not trust the Keygate CA) just closes,
  // without an alert, so no 'error' comes; and on the proxy's half-open sockets its FIN closes
  // nothing. It went unreported until the handshake timeout, as "timed out".
  const abandoned = () => {
    if (secure) return;
    fail(new HandshakeAbandonedError(writtenSince() > 0));
    socket.destroy();
  };
  socket.once('end', abandoned);
  socket.on('close', () => {
    abandoned();
    client.destroy();
  });
  return socket;
}
