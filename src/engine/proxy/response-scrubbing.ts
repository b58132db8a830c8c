/**
 * Wiring the scrubber into a response: headers are scrubbed in place, compressed bodies are
 * decoded first (the agent gets identity encoding), and the length is dropped because a
 * replacement may change it (the response goes out chunked).
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

function scrubHeaderValues(headers: OutgoingHttpHeaders, scrubber: SecretScrubber): void {
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') headers[name] = scrubber.scrubText(value);
    else if (Array.isArray(value)) headers[name] = value.map((v) => scrubber.scrubText(v));
  }
}

/** Mutates the response headers; returns the stream stages to put between upstream and agent. */
export function scrubbingStages(
  scrubber: SecretScrubber,
  headers: OutgoingHttpHeaders,
  hasBody: boolean,
): NodeJS.ReadWriteStream[] {
  scrubHeaderValues(headers, scrubber);
  if (!hasBody) return [];
  const stages: NodeJS.ReadWriteStream[] = [];
  const encoding = String(headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
  const decoder = encoding ? DECODERS[encoding] : undefined;
  if (decoder) {
    stages.push(decoder());
    delete headers['content-encoding'];
  }
  delete headers['content-length'];
  stages.push(scrubber.stream());
  return stages;
}
