/**
 * The one scrubbing point: every byte an upstream sends back for a request that carried a
 * credential passes through here before the agent sees it (issue 9 §3; docs/security.md,
 * "What an upstream sends back"). The channels:
 *  - the status line's reason phrase (scrubResponseHead);
 *  - header names and values (scrubResponseHead): a header whose name carries the credential is
 *    dropped, since no placeholder makes a valid field name of it;
 *  - the body: decoded when compressed (the agent then gets identity), scrubbed as a stream,
 *    its length dropped because a replacement may change it; a small plain body with a declared
 *    length is scrubbed whole instead (isScrubbableWhole) and keeps an exact length;
 *  - a transfer-coding other than chunked, or a content-coding Keygate cannot decode, fails
 *    closed: such a body cannot be searched (UnscrubbableEncodingError);
 *  - WebSocket messages and close reasons from the upstream, and a refused upgrade's status
 *    line, headers and body (scrubWebSocketRefusal).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import zlib from 'node:zlib';
import type { SecretScrubber } from './secret-scrubber.js';
import { defineError } from '../errors.js';

const DECODERS: Readonly<Record<string, () => NodeJS.ReadWriteStream>> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

/** The agent's Accept-Encoding, narrowed to what Keygate can decode (identity when none). */
export function decodableEncodings(value: string | string[]): string {
  const offered = (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((part) => part.trim().split(';')[0]?.toLowerCase() ?? '')
    .filter((name) => name in DECODERS);
  return offered.length > 0 ? [...new Set(offered)].join(', ') : 'identity';
}

export function scrubHeaderValues(headers: OutgoingHttpHeaders, scrubber: SecretScrubber): void {
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') headers[name] = scrubber.scrubText(value);
    else if (Array.isArray(value)) headers[name] = value.map((v) => scrubber.scrubText(v));
  }
}

/**
 * The response head as the agent will get it: the reason phrase scrubbed, a header whose name
 * (as the upstream spelled it, before it was lower-cased) carries the credential dropped, every
 * value scrubbed. Throws UnscrubbableEncodingError for a transfer-coding other than chunked (in
 * one field or several, which are one list: RFC 9110 §5.3): the client strips only chunked, so
 * `gzip, chunked` would hand on a body the scrubber cannot read. The caller then sends nothing.
 */
export function scrubResponseHead(
  scrubber: SecretScrubber,
  upstream: { rawHeaders: readonly string[]; statusMessage?: string },
  headers: OutgoingHttpHeaders,
): string | undefined {
  const raw = upstream.rawHeaders;
  let transfer: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding') {
      const value = raw[i + 1] ?? '';
      transfer = transfer === undefined ? value : `${transfer}, ${value}`;
    }
    if (scrubber.scrubText(name) !== name) delete headers[lower];
  }
  if (transfer !== undefined && transfer.trim().toLowerCase() !== 'chunked') {
    throw new UnscrubbableEncodingError(transfer, 'transfer-encoding');
  }
  scrubHeaderValues(headers, scrubber);
  const message = upstream.statusMessage;
  return message ? scrubber.scrubText(message) : message;
}

/** A refused WebSocket upgrade as the agent gets it: reason phrase, headers and body scrubbed. */
export function scrubWebSocketRefusal(
  scrubber: SecretScrubber | undefined,
  refusal: {
    statusMessage: string;
    headers: Record<string, string>;
    body: Buffer;
    /** Cut or broken off: its last bytes may be the first part of a value. */
    truncated?: boolean;
    /** A coding the bytes are in (gzip…): they cannot be searched. */
    coding?: string | undefined;
  },
): { statusMessage: string; headers: Record<string, string>; body: string } {
  if (!scrubber)
    return {
      statusMessage: refusal.statusMessage,
      headers: refusal.headers,
      body: refusal.body.toString('utf8'),
    };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(refusal.headers))
    headers[name] = scrubber.scrubText(value);
  return {
    statusMessage: scrubber.scrubText(refusal.statusMessage),
    headers,
    body: scrubbedRefusalBody(scrubber, refusal),
  };
}

/**
 * Scrubbed whole, then what a cut left at the end that could begin a value is dropped: a value
 * the cut went through is no longer a match, and its first part would reach the agent (an agent
 * can pad its request to put the cut one byte before the value's end). A coded body is withheld,
 * as the HTTP path refuses one it cannot decode.
 */
function scrubbedRefusalBody(
  scrubber: SecretScrubber,
  refusal: { body: Buffer; truncated?: boolean; coding?: string | undefined },
): string {
  if (refusal.coding !== undefined)
    return `(Keygate withheld this ${shownCoding(refusal.coding)}-coded body: it cannot be searched for the credential)`;
  const scrubbed = scrubber.scrub(refusal.body);
  const kept = refusal.truncated
    ? scrubbed.subarray(0, scrubbed.length - scrubber.heldBack(scrubbed))
    : scrubbed;
  return kept.toString('utf8');
}

/** A WebSocket message or close reason from the upstream. */
export function scrubWebSocketData(scrubber: SecretScrubber | undefined, data: Buffer): Buffer {
  return scrubber ? scrubber.scrub(data) : data;
}

/**
 * A body of at most this many bytes, with a Content-Length and no content-coding, is read whole,
 * scrubbed, and sent with its exact length in one write. Most API answers are that small; a
 * chunked stream would cost the agent's connection a second TLS record and send() per response
 * (the "0\r\n\r\n" terminator), which measured as a large share of Keygate's CPU per request.
 */
export const WHOLE_BODY_MAX_BYTES = 64 * 1024;

/** True when the response body (which must exist) may be scrubbed whole: see WHOLE_BODY_MAX_BYTES. */
export function isScrubbableWhole(headers: OutgoingHttpHeaders): boolean {
  const length = headers['content-length'];
  if (typeof length !== 'string' && typeof length !== 'number') return false;
  const bytes = Number(length);
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > WHOLE_BODY_MAX_BYTES) return false;
  const coding = String(headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
  return coding === '' || coding === 'identity';
}

/**
 * The upstream used a content-coding Keygate cannot decode (it ignored the narrowed
 * Accept-Encoding): the body cannot be searched for the credential, so it is not passed on.
 */
/** Content- and transfer-codings with a registered name (RFC 9110 §8.4.1, the IANA registry). */
const CODING_NAMES = new Set([
  'gzip',
  'x-gzip',
  'deflate',
  'compress',
  'x-compress',
  'br',
  'zstd',
  'identity',
  'chunked',
  'aes128gcm',
  'exi',
  'pack200-gzip',
  'dcb',
  'dcz',
]);

/**
 * An upstream's coding header, to be shown to the agent or in a log: only when it is a list of
 * registered names. It comes from the upstream, unscrubbed (and lower-cased, so no scrubber
 * would match it): an upstream that echoed the key there must not have it shown.
 */
export function shownCoding(value: string): string {
  const names = value.split(',').map((name) => name.trim().toLowerCase());
  return names.every((name) => CODING_NAMES.has(name)) ? names.join(', ') : 'unrecognised';
}

export class UnscrubbableEncodingError extends defineError('UnscrubbableEncodingError', {
  status: 500,
  code: 'unscrubbable_encoding',
}) {
  /** As shownCoding gives it: never the upstream's header as sent. */
  readonly coding: string;

  constructor(
    coding: string,
    header: 'content-encoding' | 'transfer-encoding' = 'content-encoding',
  ) {
    const shown = shownCoding(coding);
    super(`${header} "${shown}" cannot be decoded to scrub the response`);
    this.coding = shown;
  }
}

/**
 * The body's stages between upstream and agent; adjusts the framing headers to match. The head
 * is scrubbed apart (scrubResponseHead). Throws UnscrubbableEncodingError, before anything is
 * changed, for a coding it cannot decode.
 */
export function scrubbingStages(
  scrubber: SecretScrubber,
  headers: OutgoingHttpHeaders,
  hasBody: boolean,
): NodeJS.ReadWriteStream[] {
  // RFC 9110 §8.4: codings are listed in the order they were applied, so they are undone in
  // reverse ("gzip, br" is br over gzip).
  const codings = String(headers['content-encoding'] ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  const decoders = hasBody
    ? codings.reverse().map((coding) => {
        const decoder = DECODERS[coding];
        if (!decoder) throw new UnscrubbableEncodingError(coding);
        return decoder;
      })
    : [];
  if (!hasBody) return [];
  const stages: NodeJS.ReadWriteStream[] = decoders.map((decoder) => decoder());
  if (codings.length > 0) delete headers['content-encoding'];
  delete headers['content-length'];
  stages.push(scrubber.stream());
  return stages;
}
