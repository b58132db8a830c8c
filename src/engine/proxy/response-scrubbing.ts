/**
 * Wiring the scrubber into a response: headers are scrubbed in place, compressed bodies are
 * decoded first (the agent gets identity encoding), and the length is dropped because a
 * replacement may change it (the response goes out chunked). A small plain body with a declared
 * length is scrubbed whole instead (isScrubbableWhole), and keeps an exact length.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import zlib from 'node:zlib';
import type { SecretScrubber } from './secret-scrubber.js';

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
export class UnscrubbableEncodingError extends Error {
  constructor(readonly coding: string) {
    super(`content-encoding "${coding.slice(0, 40)}" cannot be decoded to scrub the response`);
    this.name = 'UnscrubbableEncodingError';
  }
}

/**
 * Mutates the response headers; returns the stream stages to put between upstream and agent.
 * Throws UnscrubbableEncodingError, before anything is changed, for a coding it cannot decode.
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
  scrubHeaderValues(headers, scrubber);
  if (!hasBody) return [];
  const stages: NodeJS.ReadWriteStream[] = decoders.map((decoder) => decoder());
  if (codings.length > 0) delete headers['content-encoding'];
  delete headers['content-length'];
  stages.push(scrubber.stream());
  return stages;
}
