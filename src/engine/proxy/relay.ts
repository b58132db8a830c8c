/**
 * Streams a response through zero or more stages to the agent, with backpressure (pipe() honours
 * write()'s return value and 'drain'), and tears everything down if any part fails.
 *
 * Not stream.pipeline: on Node 20 every pipeline() allocates an AbortController and, when it
 * settles, a DOMException with a captured stack. Per proxied request that measured ~4 % of the
 * proxy's CPU (bench/results/profile.json), for bookkeeping this simple chain does not need.
 */
import type { Readable, Writable } from 'node:stream';

type Stage = NodeJS.ReadWriteStream;

export function relay(
  source: Readable,
  stages: readonly Stage[],
  destination: Writable,
  done: (err?: Error) => void,
): void {
  let settled = false;
  const all: Array<Readable | Writable | Stage> = [source, ...stages, destination];
  const finish = (err?: Error) => {
    if (settled) return;
    settled = true;
    if (err) for (const stream of all) (stream as Readable).destroy?.();
    done(err);
  };
  for (const stream of all) (stream as Readable).once('error', (err: Error) => finish(err));
  destination.once('finish', () => finish());
  // The agent went away before the end: stop reading the upstream.
  destination.once('close', () => {
    if (!destination.writableFinished)
      finish(
        Object.assign(new Error('client closed early'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }),
      );
  });
  let tail: NodeJS.ReadableStream = source;
  for (const stage of stages) tail = tail.pipe(stage);
  tail.pipe(destination);
}
