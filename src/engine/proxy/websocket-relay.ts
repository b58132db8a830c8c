/**
 * WebSockets through Keygate: the upstream is dialled *before* the agent's upgrade is answered,
 * and messages are then relayed with backpressure both ways.
 *
 * Why not http-mitm-proxy's relay: it answered the agent's upgrade with 101 before dialling the
 * upstream (an upstream that refused became a WebSocket that opens, then drops), never offered
 * the agent's subprotocols upstream (RFC 6455 §4.1: a client that asked for one must fail the
 * connection when none is selected), and sent every message on without looking at either side's
 * buffer, so a slow reader made the proxy hold everything a fast writer sent.
 */
import type http from 'node:http';
import { WebSocket, type RawData } from 'ws';
import { AgentClosedError, UpstreamTimeoutError } from '../errors.js';
import type { LookupFunction } from './dns-lookup.js';
import type { WebSocketObserver } from './request-hooks.js';
import { scrubWebSocketData } from './response-scrubbing.js';
import type { SecretScrubber } from './secret-scrubber.js';

export interface UpstreamWebSocketOptions {
  readonly url: string;
  /** The agent's `Sec-WebSocket-Protocol` offers, passed on so the upstream picks. */
  readonly protocols: readonly string[];
  /** What the upstream receives: forwardable headers, the credential already injected. */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly agent: http.Agent;
  /** Resolves the upstream's name, on the agent's own budget (dns-lookup.ts lookupFor). */
  readonly lookup: LookupFunction;
  /** Connect, TLS and the upstream's whole answer to the upgrade, all within this. */
  readonly timeoutMs: number;
  /** Aborted when the agent leaves: the dial is given up and its socket closed. */
  readonly signal?: AbortSignal;
}

/**
 * The upstream's non-101 answer, as it sent it: the caller scrubs it (scrubWebSocketRefusal)
 * before handing it to the agent as its own answer would have been.
 */
export interface UpstreamRefusal {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: Record<string, string>;
  /** At most MAX_REFUSAL_BODY bytes, as they came (still content-coded, if it was). */
  readonly body: Buffer;
  /** The body was cut (at the limit) or broke off: its last bytes may be half of something. */
  readonly truncated: boolean;
  /** A content- or transfer-coding other than chunked: the body's bytes are not its text. */
  readonly coding: string | undefined;
}

export type UpstreamDial =
  | { readonly kind: 'open'; readonly socket: WebSocket }
  | { readonly kind: 'refused'; readonly refusal: UpstreamRefusal };

/** A refusal body longer than this is cut: it is an error page, not data. */
const MAX_REFUSAL_BODY = 64 * 1024;
/** Headers of a refusal worth passing on; the rest describe the upstream's connection. */
const REFUSAL_HEADERS = ['content-type', 'www-authenticate', 'location', 'retry-after'];

/**
 * Opens the upstream WebSocket. Resolves `open` (the socket paused: relayWebSocket resumes it),
 * or `refused` with the upstream's status, a few headers and its body (unscrubbed: the caller's
 * job); rejects with the network or TLS error, for the caller to classify (upstream-errors.ts),
 * UpstreamTimeoutError when the whole dial took longer than `timeoutMs`, or AgentClosedError when
 * `signal` aborted it.
 */
export function dialUpstreamWebSocket(options: UpstreamWebSocketOptions): Promise<UpstreamDial> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new AgentClosedError('the agent closed the connection before its 101'));
      return;
    }
    let socket: WebSocket;
    try {
      socket = new WebSocket(options.url, [...options.protocols], {
        agent: options.agent,
        // ws hands its options to http.request, which hands `lookup` to the agent's connection.
        lookup: options.lookup,
        headers: options.headers as Record<string, string>,
        // Messages are scrubbed as bytes; a compressed stream would hide an echoed credential.
        perMessageDeflate: false,
        followRedirects: false,
      });
    } catch (err) {
      // ws refuses an invalid URL or subprotocol token synchronously (SyntaxError).
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    let settled = false;
    const settle = (done: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      options.signal?.removeEventListener('abort', abandon);
      done();
    };
    const fail = (err: Error) =>
      settle(() => {
        socket.terminate();
        reject(err);
      });
    // Not ws's handshakeTimeout: that is the socket's idle timer, which every byte resets, so an
    // upstream trickling its answer (or an endless refusal body) would hold the upgrade forever.
    const deadline = setTimeout(
      () =>
        fail(new UpstreamTimeoutError(`no answer to the upgrade within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    const abandon = () =>
      fail(new AgentClosedError('the agent closed the connection before its 101'));
    // Kept for the socket's life, never removed: while it is paused (below), the frames the
    // upstream sent with its 101 wait unread, and ws parses them when the socket closes; one that
    // is malformed is an 'error', which with no listener would be thrown out of the event loop.
    socket.on('error', fail);
    options.signal?.addEventListener('abort', abandon, { once: true });
    socket.once('open', () =>
      settle(() => {
        // Paused until relayWebSocket has its listeners on. Frames the upstream sent with its
        // 101 (a greeting, a close) are read in the same turn, before the agent's 101 is written
        // and the relay wired: unpaused, a message was lost.
        socket.pause();
        resolve({ kind: 'open', socket });
      }),
    );
    socket.once('unexpected-response', (request, response) => {
      const chunks: Buffer[] = [];
      let length = 0;
      const finish = (ended: boolean) =>
        settle(() => {
          request.destroy();
          const body = Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY);
          const headers: Record<string, string> = {};
          for (const name of REFUSAL_HEADERS) {
            const value = response.headers[name];
            if (typeof value === 'string') headers[capitalise(name)] = value;
          }
          resolve({
            kind: 'refused',
            refusal: {
              status: response.statusCode ?? 502,
              statusMessage: response.statusMessage ?? '',
              headers,
              body,
              truncated: !ended || length > MAX_REFUSAL_BODY,
              coding: codingOf(response.headers),
            },
          });
        });
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        // All the agent will get: the rest is not waited for.
        if (length >= MAX_REFUSAL_BODY) finish(false);
      });
      response.once('end', () => finish(true));
      response.once('error', () => finish(false));
    });
  });
}

/** The coding that keeps a body's bytes from being its text: any but identity (and chunked). */
function codingOf(headers: http.IncomingHttpHeaders): string | undefined {
  const content = headers['content-encoding']?.trim().toLowerCase();
  if (content && content !== 'identity') return content;
  const transfer = headers['transfer-encoding']?.trim().toLowerCase();
  if (transfer && transfer !== 'chunked') return transfer;
  return undefined;
}

/** ws spreads these over its own `Content-Type`; the same spelling keeps one header, not two. */
function capitalise(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

export interface RelayOptions {
  /**
   * Upstream messages and close reasons pass through it: an echoed credential becomes the
   * placeholder.
   */
  readonly scrubber: SecretScrubber | undefined;
  /** Sees each upstream → agent message after scrubbing (usage accounting). */
  readonly observer?: WebSocketObserver | undefined;
  /** Once both sides are closed. */
  readonly onClose?: () => void;
  /** Bytes sent but not yet written out, per direction, before the sender is paused. */
  readonly highWaterMark?: number;
  /**
   * Asked before each agent → upstream message. One that throws closes both sides instead, with
   * 1008 (policy violation, RFC 6455 §7.4.1), and the agent's with `Keygate: <its message>` as
   * the reason; the message and any after it are not sent.
   */
  beforeAgentMessage?: () => void;
  /** Told, once, what beforeAgentMessage threw. */
  onRefused?: (err: unknown) => void;
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

/** Relays messages between two open WebSockets until either side closes. */
export function relayWebSocket(
  agentSide: WebSocket,
  upstream: WebSocket,
  options: RelayOptions,
): void {
  const high = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  let refused = false;
  const gate = options.beforeAgentMessage;
  const mayForward = gate
    ? (): boolean => {
        if (refused) return false;
        try {
          gate();
          return true;
        } catch (err) {
          refused = true;
          options.onRefused?.(err);
          const reason = Buffer.from(
            `Keygate: ${err instanceof Error ? err.message : 'refused'}`,
            'utf8',
          );
          closeWith(agentSide, 1008, reason);
          // The upstream is told only that: the agent's name and its budget are not its business.
          closeWith(upstream, 1008, Buffer.alloc(0));
          return false;
        }
      }
    : undefined;
  forward(agentSide, upstream, high, undefined, undefined, mayForward);
  forward(upstream, agentSide, high, options.scrubber, options.observer);

  let closed = 0;
  const onClosed = () => {
    closed += 1;
    if (closed !== 2) return;
    options.observer?.close();
    options.onClose?.();
  };
  agentSide.once('close', (code, reason) => {
    onClosed();
    closeWith(upstream, code, reason);
  });
  upstream.once('close', (code, reason) => {
    onClosed();
    closeWith(agentSide, code, scrubWebSocketData(options.scrubber, reason));
  });
  // An error is followed by 'close' (ws), which ends the other side.
  agentSide.on('error', () => undefined);
  upstream.on('error', () => undefined);
  // Paused since it opened (dialUpstreamWebSocket): what it sent meanwhile is read now.
  upstream.resume();
}

function forward(
  from: WebSocket,
  to: WebSocket,
  high: number,
  scrubber: SecretScrubber | undefined,
  observer: WebSocketObserver | undefined,
  mayForward?: () => boolean,
): void {
  let pending = 0;
  let paused = false;
  from.on('message', (data: RawData, isBinary: boolean) => {
    if (to.readyState !== WebSocket.OPEN) return;
    if (mayForward && !mayForward()) return;
    const message = scrubWebSocketData(scrubber, toBuffer(data));
    observer?.message(message, !isBinary);
    pending += message.length;
    to.send(message, { binary: isBinary }, () => {
      pending -= message.length;
      // Resume at half the mark, so a sender near the line is not paused and resumed per message.
      if (paused && pending <= high / 2) {
        paused = false;
        from.resume();
      }
    });
    if (!paused && pending > high) {
      paused = true;
      from.pause();
    }
  });
}

/**
 * RFC 6455 §7.4: 1005 (no status) and 1006 (abnormal) describe a close, they are never sent;
 * the other side is then closed without a code, or dropped.
 */
function closeWith(socket: WebSocket, code: number, reason: Buffer): void {
  if (socket.readyState === WebSocket.CLOSED || socket.readyState === WebSocket.CLOSING) return;
  if (code === 1006) {
    socket.terminate();
    return;
  }
  // ws's own rule for a code that may be sent (lib/validation.js isValidStatusCode).
  const sendable =
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005) ||
    (code >= 3000 && code <= 4999);
  if (sendable) socket.close(code, withinCloseFrame(reason));
  else socket.close();
}

/**
 * A scrubbed reason may outgrow the 123 bytes a close frame allows (RFC 6455 §5.5). It is cut at
 * the start of a character: a reason cut inside one is invalid UTF-8, for which the receiver
 * fails the connection (§8.1, 1007) and the agent sees 1006 instead of the upstream's code.
 */
function withinCloseFrame(reason: Buffer): Buffer {
  if (reason.length <= 123) return reason;
  let end = 123;
  // reason[end] is the first byte left out: a continuation byte (10xxxxxx) means a cut character.
  while (end > 0 && ((reason[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return reason.subarray(0, end);
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
