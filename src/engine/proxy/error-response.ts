/**
 * How a KeygateError reaches the agent (docs/security.md, "Errors the agent sees"): one status
 * with a reason phrase naming the cause, `X-Keygate-Error`, `x-should-retry`, `Retry-After` when
 * known, and a body in the form the client can show: JSON for API clients, one line of
 * `text/plain` for everyone else (git prints a body only when it is `text/plain`).
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KeygateError } from '../errors.js';
import { splitAuthority } from '../../shared/uri-host.js';

export const KEYGATE_ERROR_HEADER = 'x-keygate-error';
/** Read by the OpenAI and Anthropic SDKs (and so Claude Code) before their own retry rules. */
export const SHOULD_RETRY_HEADER = 'x-should-retry';
const PROXY_AUTHENTICATE = 'Basic realm="keygate"';
const MAX_REASON_LENGTH = 120;

/** What the agent's request says about it, for choosing the body and the reason phrase. */
export interface ErrorContext {
  /** The agent's request headers (Accept, User-Agent, Host). */
  headers?: IncomingHttpHeaders;
  /** The host the request was for, when the caller knows it better than `Host` does. */
  host?: string;
  /** Overrides the error's status: 408 and 431 are malformed-request variants of bad_request. */
  status?: number;
}

export interface ErrorRendering {
  status: number;
  reason: string;
  headers: Record<string, string | number>;
  body: string;
}

/**
 * JSON for clients that asked for it, or that stream API events (SSE clients are API SDKs that
 * parse JSON errors); text otherwise. git sends `Accept: *\/*` and shows only text/plain bodies,
 * so its user agent always gets text.
 */
export function wantsJson(headers: IncomingHttpHeaders | undefined): boolean {
  if (!headers) return false;
  const agent = headers['user-agent'];
  if (typeof agent === 'string' && /^git\//i.test(agent)) return false;
  const accept = headers.accept;
  return typeof accept === 'string' && /json|text\/event-stream/i.test(accept);
}

/**
 * A reason phrase may hold only HTAB, SP, VCHAR and obs-text (RFC 9112 §4); Keygate keeps to
 * printable ASCII so no client mis-decodes it, and bounds its length.
 */
export function sanitizeReason(text: string): string {
  const clean = text
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return clean.length > MAX_REASON_LENGTH ? `${clean.slice(0, MAX_REASON_LENGTH - 3)}...` : clean;
}

/** The request's host name without its port, if it is a plain name or address. */
function hostOf(context: ErrorContext | undefined): string | undefined {
  const raw = context?.host ?? context?.headers?.host;
  if (typeof raw !== 'string') return undefined;
  const parts = splitAuthority(raw);
  const host = parts.problem === undefined ? parts.host : undefined;
  return host && /^[A-Za-z0-9.\-[\]:]{1,253}$/.test(host) ? host.toLowerCase() : undefined;
}

/** Everything an error response carries, for callers that write it their own way. */
export function renderError(err: KeygateError, context?: ErrorContext): ErrorRendering {
  const json = wantsJson(context?.headers);
  const body = json ? err.toBody() : err.toText();
  const headers: Record<string, string | number> = {
    'content-type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [KEYGATE_ERROR_HEADER]: err.errorId,
    [SHOULD_RETRY_HEADER]: err.retryable ? 'true' : 'false',
    'cache-control': 'no-store',
  };
  const retryAfter = err.retryAfterSeconds;
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  if (err.status === 407) headers['proxy-authenticate'] = PROXY_AUTHENTICATE;
  return {
    status: context?.status ?? err.status,
    reason: sanitizeReason(err.summary(hostOf(context))),
    headers,
    body,
  };
}

/**
 * Answers `res` with `err`. The agent's request is read from `res.req` (Accept, User-Agent,
 * Host) unless `context` says otherwise.
 */
export function sendError(res: ServerResponse, err: KeygateError, context?: ErrorContext): void {
  if (res.headersSent) {
    // Too late for a status: cut the response so the agent sees a failure, not a truncated success.
    res.destroy(err);
    return;
  }
  const request = (res as Partial<Pick<ServerResponse, 'req'>>).req;
  const rendering = renderError(err, { headers: request?.headers, ...context });
  res.writeHead(rendering.status, rendering.reason, rendering.headers);
  res.end(rendering.body);
}

/**
 * How long a refused socket stays open after its answer for the agent to read it and close. Node's
 * HTTP server allows half-open sockets: one whose agent never closes would be held forever.
 */
export const RAW_REFUSAL_LINGER_MS = 2_000;

/**
 * For CONNECT and refused upgrades, where there is no ServerResponse: write a whole HTTP/1.1
 * response and close. Node takes its own 'error' listener off a socket it hands to 'connect' or
 * 'upgrade', and an agent may reset while the answer is written: without one here, its
 * ECONNRESET would be thrown out of the event loop (any local process could stop serve so).
 * The socket is destroyed `lingerMs` after the answer unless the agent closed it first.
 */
export function writeRawError(
  socket: Duplex,
  err: KeygateError,
  context?: ErrorContext,
  lingerMs = RAW_REFUSAL_LINGER_MS,
): void {
  if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy());
  if (socket.destroyed || !socket.writable) return;
  const { status, reason, headers, body } = renderError(err, context);
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  socket.end(`${head}connection: close\r\n\r\n${body}`);
  const linger = setTimeout(() => socket.destroy(), lingerMs).unref();
  socket.once('close', () => clearTimeout(linger));
}
