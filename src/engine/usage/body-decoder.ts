/**
 * Undoes a response's content-coding on the side, for reading usage: the relay keeps sending the
 * bytes as they came, and a copy goes through zlib streams here. It never pushes back on the
 * relay; instead it is bounded: when the decoders fall more than MAX_BACKLOG_BYTES behind, or
 * decode more than MAX_DECODED_BYTES, it gives up on this response (its usage is then unknown).
 */
import zlib from 'node:zlib';

const DECODERS: Readonly<Record<string, () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress>> =
  {
    gzip: () => zlib.createGunzip(),
    'x-gzip': () => zlib.createGunzip(),
    deflate: () => zlib.createInflate(),
    br: () => zlib.createBrotliDecompress(),
  };

export const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
export const MAX_DECODED_BYTES = 64 * 1024 * 1024;

export interface DecodedSink {
  write(bytes: Buffer): void;
  /** `reason` is set when the body could not be decoded whole. */
  end(reason?: string): void;
}

export interface BodyDecoder {
  write(bytes: Buffer): void;
  end(): void;
}

/** The codings named by Content-Encoding, in the order applied (RFC 9110 §8.4). */
export function contentCodings(value: string | string[] | undefined): string[] {
  return (Array.isArray(value) ? value.join(',') : (value ?? ''))
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

export function createBodyDecoder(codings: readonly string[], sink: DecodedSink): BodyDecoder {
  if (codings.length === 0) return { write: (bytes) => sink.write(bytes), end: () => sink.end() };
  const unknown = codings.find((coding) => !(coding in DECODERS));
  if (unknown !== undefined) {
    // zstd and others: not decoded (the usage is then unknown), never an error for the relay.
    let ended = false;
    return {
      write: () => undefined,
      end: () => {
        if (ended) return;
        ended = true;
        sink.end(`content-encoding ${unknown.slice(0, 20)} is not decoded for usage`);
      },
    };
  }
  // Undone in reverse order: "gzip, br" is br over gzip.
  const stages = [...codings].reverse().map((coding) => DECODERS[coding]!());
  for (let i = 0; i + 1 < stages.length; i++) stages[i]!.pipe(stages[i + 1]!);
  const first = stages[0]!;
  const last = stages[stages.length - 1]!;
  let decoded = 0;
  let done = false;
  const finish = (reason?: string) => {
    if (done) return;
    done = true;
    for (const stage of stages) stage.destroy();
    sink.end(reason);
  };
  last.on('data', (chunk: Buffer) => {
    if (done) return;
    decoded += chunk.length;
    if (decoded > MAX_DECODED_BYTES) finish('decoded body is too large to read for usage');
    else sink.write(chunk);
  });
  last.once('end', () => finish());
  for (const stage of stages)
    stage.once('error', (err: Error) => finish(`body does not decode: ${err.message}`));
  return {
    write: (bytes) => {
      if (done) return;
      if (first.writableLength > MAX_BACKLOG_BYTES) {
        finish('decoding fell behind the relay');
        return;
      }
      first.write(bytes);
    },
    end: () => {
      if (!done) first.end();
    },
  };
}
