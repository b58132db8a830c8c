/**
 * Keeps injected values from reaching the agent when an upstream echoes them back (some APIs
 * print the key in error bodies; some reflect request headers). Every occurrence becomes the
 * agent's placeholder.
 *
 * Streaming-safe: a value split across two chunks is still caught, because the end of a chunk
 * that could be the start of a value is held back until the next chunk decides it. Only such a
 * prefix is held (at most len-1 bytes, usually nothing), so SSE events still flow one by one.
 */
import { Transform, type TransformCallback } from 'node:stream';

export class SecretScrubber {
  readonly #needles: readonly Buffer[];
  readonly #replacement: Buffer;
  // SECRET: never log. The same values as text, for header fields and reason phrases.
  readonly #textNeedles: readonly string[];
  readonly #replacementText: string;

  constructor(values: readonly string[], replacement: string) {
    // Longest first, so a value that contains another is replaced whole.
    this.#needles = [...new Set(values.filter((v) => v.length > 0))]
      .map((v) => Buffer.from(v, 'utf8'))
      .sort((a, b) => b.length - a.length);
    this.#replacement = Buffer.from(replacement, 'utf8');
    // Node reads header fields and the reason phrase as latin1, one char per byte (RFC 9110
    // §5.5): a value's UTF-8 bytes then appear as its latin1 reading. For ASCII both are the
    // value itself. Matched as strings, which costs no Buffer per header.
    this.#textNeedles = [
      ...new Set(this.#needles.flatMap((b) => [b.toString('utf8'), b.toString('latin1')])),
    ].sort((a, b) => b.length - a.length);
    this.#replacementText = replacement;
  }

  get active(): boolean {
    return this.#needles.length > 0;
  }

  /** Replaces every value in a complete buffer. Returns the input itself when nothing matched. */
  scrub(data: Buffer): Buffer {
    let out = data;
    for (const needle of this.#needles) {
      let at = out.indexOf(needle);
      if (at < 0) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at >= 0) {
        parts.push(out.subarray(from, at), this.#replacement);
        from = at + needle.length;
        at = out.indexOf(needle, from);
      }
      parts.push(out.subarray(from));
      out = Buffer.concat(parts);
    }
    return out;
  }

  /** Replaces every value in a header field or reason phrase; the input itself when none. */
  scrubText(text: string): string {
    let out = text;
    for (const needle of this.#textNeedles)
      if (out.includes(needle)) out = out.split(needle).join(this.#replacementText);
    return out;
  }

  /** How many trailing bytes of `data` could begin a value, and must wait for the next chunk. */
  heldBack(data: Buffer): number {
    let hold = 0;
    for (const needle of this.#needles) {
      const max = Math.min(needle.length - 1, data.length);
      for (let n = max; n > hold; n--) {
        if (data.compare(needle, 0, n, data.length - n) === 0) {
          hold = n;
          break;
        }
      }
    }
    return hold;
  }

  stream(): Transform {
    let pending: Buffer | undefined;
    return new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) => {
        const data = this.scrub(pending ? Buffer.concat([pending, chunk]) : chunk);
        const hold = this.heldBack(data);
        pending = hold > 0 ? Buffer.from(data.subarray(data.length - hold)) : undefined;
        done(null, hold > 0 ? data.subarray(0, data.length - hold) : data);
      },
      flush: (done: TransformCallback) => done(null, pending),
    });
  }
}
