/**
 * The scrubbing point's head and WebSocket functions (src/engine/proxy/response-scrubbing.ts),
 * unit by unit; the end-to-end channels are in test/integration/scrubbing-channels.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  decodableEncodings,
  isScrubbableWhole,
  scrubbingStages,
  scrubResponseHead,
  scrubWebSocketData,
  scrubWebSocketRefusal,
  UnscrubbableEncodingError,
} from '../../../src/engine/proxy/response-scrubbing.js';
import { SecretScrubber } from '../../../src/engine/proxy/secret-scrubber.js';

const KEY = 'sk-unit-CANARY-42';
const scrubber = new SecretScrubber([KEY], 'keygate-placeholder');

/** An upstream head as undici gives it (names as spelled), and the headers to pass on. */
function head(rawHeaders: string[], statusMessage = 'OK') {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2)
    headers[rawHeaders[i]!.toLowerCase()] = rawHeaders[i + 1]!;
  return { rawHeaders, headers, statusMessage };
}

describe('scrubResponseHead', () => {
  it('scrubs the reason phrase and every value, and drops a header whose name carries the key', () => {
    const upstream = head(
      ['Content-Type', 'text/plain', `X-${KEY}`, '1', 'X-Echo', `Bearer ${KEY}`],
      `bad key ${KEY}`,
    );
    const headers: Record<string, string> = { ...upstream.headers };
    const message = scrubResponseHead(scrubber, upstream, headers);
    expect(message).toBe('bad key keygate-placeholder');
    expect(headers).toEqual({
      'content-type': 'text/plain',
      'x-echo': 'Bearer keygate-placeholder',
    });
  });

  it.each(['gzip, chunked', 'chunked, gzip', 'identity', 'br'])(
    'refuses transfer-encoding %j (only chunked can be undone before scrubbing)',
    (coding) => {
      const upstream = head(['Transfer-Encoding', coding]);
      expect(() => scrubResponseHead(scrubber, upstream, {})).toThrow(UnscrubbableEncodingError);
    },
  );

  it('refuses a coding in a second Transfer-Encoding field: repeated fields are one list', () => {
    const upstream = head(['Transfer-Encoding', 'gzip', 'transfer-encoding', 'chunked']);
    expect(() => scrubResponseHead(scrubber, upstream, {})).toThrow(/gzip, chunked/);
  });

  it('accepts plain chunked in any case', () => {
    expect(scrubResponseHead(scrubber, head(['Transfer-Encoding', ' Chunked ']), {})).toBe('OK');
  });
});

describe('body stages', () => {
  it('decodes stacked codings in reverse and drops the framing headers', () => {
    const headers: Record<string, string> = {
      'content-encoding': 'gzip, br',
      'content-length': '9',
    };
    const stages = scrubbingStages(scrubber, headers, true);
    expect(stages).toHaveLength(3);
    expect(headers).toEqual({});
  });

  it('refuses a coding it cannot decode before changing anything', () => {
    const headers: Record<string, string> = { 'content-encoding': 'zstd', 'content-length': '9' };
    expect(() => scrubbingStages(scrubber, headers, true)).toThrow(/zstd/);
    expect(headers).toEqual({ 'content-encoding': 'zstd', 'content-length': '9' });
  });

  it('a small identity body with a length is scrubbed whole; others stream', () => {
    expect(isScrubbableWhole({ 'content-length': '10' })).toBe(true);
    expect(isScrubbableWhole({ 'content-length': String(64 * 1024 + 1) })).toBe(false);
    expect(isScrubbableWhole({ 'content-length': '10', 'content-encoding': 'gzip' })).toBe(false);
    expect(isScrubbableWhole({})).toBe(false);
  });

  it('narrows Accept-Encoding to what it can decode', () => {
    expect(decodableEncodings('zstd, br;q=1, gzip')).toBe('br, gzip');
    expect(decodableEncodings('zstd')).toBe('identity');
    expect(decodableEncodings('')).toBe('identity');
  });
});

describe('WebSocket channels', () => {
  it('scrubs a refused upgrade’s reason, headers and body', () => {
    const refusal = scrubWebSocketRefusal(scrubber, {
      statusMessage: `Found ${KEY}`,
      headers: { Location: `https://x.test/?k=${KEY}`, 'Www-Authenticate': `Bearer ${KEY}` },
      body: Buffer.from(`{"got":"${KEY}"}`),
    });
    expect(JSON.stringify(refusal)).not.toContain(KEY);
    expect(refusal.headers.Location).toBe('https://x.test/?k=keygate-placeholder');
    expect(refusal.body).toBe('{"got":"keygate-placeholder"}');
  });

  it('drops what a cut left of a value at the end of a refused upgrade’s body, and only when cut', () => {
    const start = Buffer.from(`page ${KEY.slice(0, -1)}`);
    const cut = scrubWebSocketRefusal(scrubber, {
      statusMessage: 'Not Found',
      headers: {},
      body: start,
      truncated: true,
    });
    expect(cut.body).toBe('page ');
    const whole = scrubWebSocketRefusal(scrubber, {
      statusMessage: 'Not Found',
      headers: {},
      body: Buffer.from(`page ${KEY} end`),
      truncated: true,
    });
    expect(whole.body).toBe('page keygate-placeholder end');
  });

  it('withholds a refused upgrade’s body in a coding it cannot search', () => {
    const refusal = scrubWebSocketRefusal(scrubber, {
      statusMessage: 'Forbidden',
      headers: {},
      body: Buffer.from([0x1f, 0x8b, 8, 0]),
      coding: 'gzip',
    });
    expect(refusal.body).toMatch(/^\(Keygate withheld this gzip-coded body/);
  });

  it('names a coding only by its registered name: one an upstream filled with the key is not shown', () => {
    const echoed = scrubWebSocketRefusal(scrubber, {
      statusMessage: 'Forbidden',
      headers: {},
      body: Buffer.from('x'),
      coding: KEY.toLowerCase(),
    });
    expect(echoed.body.toLowerCase().includes(KEY.toLowerCase())).toBe(false);
    expect(echoed.body).toMatch(/^\(Keygate withheld this unrecognised-coded body/);
    expect(new UnscrubbableEncodingError(`gzip, ${KEY}`).message.includes(KEY)).toBe(false);
    expect(new UnscrubbableEncodingError('GZIP, Chunked', 'transfer-encoding').message).toBe(
      'transfer-encoding "gzip, chunked" cannot be decoded to scrub the response',
    );
  });

  it('passes an unmapped refusal and data through untouched', () => {
    const body = Buffer.from('hi');
    expect(scrubWebSocketRefusal(undefined, { statusMessage: 'x', headers: {}, body }).body).toBe(
      'hi',
    );
    expect(scrubWebSocketData(undefined, body)).toBe(body);
    expect(scrubWebSocketData(scrubber, Buffer.from(`bye ${KEY}`)).toString()).toBe(
      'bye keygate-placeholder',
    );
  });
});
