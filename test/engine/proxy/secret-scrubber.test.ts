import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SecretScrubber } from '../../../src/engine/proxy/secret-scrubber.js';

async function through(
  scrubber: SecretScrubber,
  chunks: string[],
): Promise<{ text: string; pieces: string[] }> {
  const pieces: string[] = [];
  const stream = Readable.from(chunks.map((c) => Buffer.from(c))).pipe(scrubber.stream());
  for await (const piece of stream) pieces.push((piece as Buffer).toString());
  return { text: pieces.join(''), pieces };
}

describe('SecretScrubber', () => {
  const secret = 'sk-live-0123456789abcdef';
  const scrubber = new SecretScrubber([secret, 'u53r'], 'keygate-placeholder');

  it('replaces every occurrence in a whole buffer', () => {
    expect(scrubber.scrubText(`a ${secret} b ${secret}u53r`)).toBe(
      'a keygate-placeholder b keygate-placeholderkeygate-placeholder',
    );
  });

  it('catches a value split at every possible chunk boundary', async () => {
    const text = `{"error":"bad key ${secret}"}`;
    for (let cut = 1; cut < text.length; cut++) {
      const { text: out } = await through(scrubber, [text.slice(0, cut), text.slice(cut)]);
      expect(out, `cut at ${cut}`).toBe('{"error":"bad key keygate-placeholder"}');
    }
  });

  it('catches a value spread over one-byte chunks', async () => {
    const { text } = await through(scrubber, [...`x${secret}y`]);
    expect(text).toBe('xkeygate-placeholdery');
  });

  it('holds back only a possible prefix, so SSE events are not delayed', async () => {
    const stream = scrubber.stream();
    for (const event of ['data: one\n\n', 'data: two\n\n']) {
      // Each event comes out whole before the next one is written.
      const out = new Promise<string>((resolve) =>
        stream.once('data', (chunk: Buffer) => resolve(chunk.toString())),
      );
      stream.write(Buffer.from(event));
      expect(await out).toBe(event);
    }
    stream.end();
    expect(scrubber.heldBack(Buffer.from('text ending in sk-li'))).toBe(5);
    expect(scrubber.heldBack(Buffer.from('text ending in sk-x'))).toBe(0);
  });

  it('returns the input untouched when nothing matches (no copy on the hot path)', () => {
    const data = Buffer.from('nothing to see');
    expect(scrubber.scrub(data)).toBe(data);
  });

  it('finds a value in header text, also as Node reads its UTF-8 bytes there (latin1)', () => {
    const unicode = new SecretScrubber(['clé-0123456789'], 'PLACEHOLDER');
    const asNodeReadsIt = Buffer.from('clé-0123456789', 'utf8').toString('latin1');
    expect(asNodeReadsIt).not.toBe('clé-0123456789');
    expect(unicode.scrubText(`Bearer ${asNodeReadsIt}`)).toBe('Bearer PLACEHOLDER');
    expect(unicode.scrubText('x clé-0123456789 y clé-0123456789')).toBe(
      'x PLACEHOLDER y PLACEHOLDER',
    );
    const untouched = 'nothing to see';
    expect(unicode.scrubText(untouched)).toBe(untouched);
  });

  it('is inactive without values', () => {
    expect(new SecretScrubber([''], 'x').active).toBe(false);
  });
});
