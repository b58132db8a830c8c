import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  contentCodings,
  createBodyDecoder,
  MAX_DECODED_BYTES,
} from '../../../src/engine/usage/body-decoder.js';
import { ANTHROPIC_SSE } from './recorded-responses.js';

function decode(codings: string[], chunks: Buffer[]): Promise<{ text: string; reason?: string }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const decoder = createBodyDecoder(codings, {
      write: (b) => parts.push(b),
      end: (reason) =>
        resolve({ text: Buffer.concat(parts).toString('utf8'), ...(reason ? { reason } : {}) }),
    });
    for (const chunk of chunks) decoder.write(chunk);
    decoder.end();
  });
}

const body = Buffer.from(ANTHROPIC_SSE);
const ENCODE: Record<string, (b: Buffer) => Buffer> = {
  gzip: (b) => zlib.gzipSync(b),
  deflate: (b) => zlib.deflateSync(b),
  br: (b) => zlib.brotliCompressSync(b),
};

describe('contentCodings', () => {
  it('lists codings in order, lower-cased, without identity', () => {
    expect(contentCodings('gzip, BR')).toEqual(['gzip', 'br']);
    expect(contentCodings(['identity', 'gzip'])).toEqual(['gzip']);
    expect(contentCodings(undefined)).toEqual([]);
  });
});

describe('createBodyDecoder', () => {
  for (const coding of Object.keys(ENCODE)) {
    it(`decodes ${coding} split at every byte`, async () => {
      const encoded = ENCODE[coding]!(body);
      for (let cut = 1; cut < encoded.length; cut++) {
        const out = await decode([coding], [encoded.subarray(0, cut), encoded.subarray(cut)]);
        expect(out.reason).toBeUndefined();
        expect(out.text).toBe(ANTHROPIC_SSE);
      }
      const bytes = [...encoded].map((b) => Buffer.from([b]));
      expect((await decode([coding], bytes)).text).toBe(ANTHROPIC_SSE);
    });
  }

  it('undoes stacked codings in reverse order', async () => {
    const encoded = zlib.brotliCompressSync(zlib.gzipSync(body));
    expect((await decode(['gzip', 'br'], [encoded])).text).toBe(ANTHROPIC_SSE);
  });

  it('passes identity through', async () => {
    expect((await decode([], [body])).text).toBe(ANTHROPIC_SSE);
  });

  it('garbage ends with a reason, never a throw', async () => {
    for (const coding of Object.keys(ENCODE)) {
      const out = await decode([coding], [Buffer.from('this is not compressed at all')]);
      expect(out.reason).toMatch(/does not decode/);
    }
  });

  it('a truncated body ends with a reason', async () => {
    const encoded = zlib.gzipSync(body);
    const out = await decode(['gzip'], [encoded.subarray(0, encoded.length - 10)]);
    expect(out.reason).toBeDefined();
  });

  it('an unknown coding is not decoded, and says so once', async () => {
    let ends = 0;
    const decoder = createBodyDecoder(['zstd'], {
      write: () => expect.unreachable(),
      end: (reason) => {
        ends++;
        expect(reason).toMatch(/zstd is not decoded/);
      },
    });
    decoder.write(body);
    decoder.end();
    decoder.end();
    expect(ends).toBe(1);
  });

  it('gives up on a decompression bomb', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(MAX_DECODED_BYTES + 1024 * 1024));
    const out = await new Promise<{ size: number; reason?: string }>((resolve) => {
      let size = 0;
      const decoder = createBodyDecoder(['gzip'], {
        write: (b) => (size += b.length),
        end: (reason) => resolve({ size, ...(reason ? { reason } : {}) }),
      });
      decoder.write(bomb);
      decoder.end();
    });
    expect(out.reason).toMatch(/too large/);
    expect(out.size).toBeLessThanOrEqual(MAX_DECODED_BYTES);
  });
});
