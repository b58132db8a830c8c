/**
 * One call to a secret source, bounded on real timers: the 1Password SDK can hang for up to
 * 300 s on a silent server (docs/onepassword.md), and a request waiting for its secret must not.
 * The source sees the timeout as an abort of its signal.
 */
import { defineError } from '../errors.js';
import { SecretSourceError } from './secret-source.js';

/** The source did not answer within the timeout; also the abort reason the source sees. */
export class SourceTimeout extends defineError('TimeoutError', {
  status: 500,
  code: 'source_timeout',
}) {
  constructor(scheme: string, ms: number) {
    super(`the ${scheme} source did not answer within ${formatDuration(ms)}`);
  }
}

/** `call` raced against `timeoutMs`; the timer never holds the process open. */
export function callSource<T>(
  scheme: string,
  timeoutMs: number,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const reason = new SourceTimeout(scheme, timeoutMs);
      controller.abort(reason);
      reject(reason);
    }, timeoutMs);
    timer.unref();
  });
  let answer: Promise<T>;
  try {
    answer = Promise.resolve(call(controller.signal));
  } catch (err) {
    // A source that throws instead of rejecting is answered the same way.
    answer = Promise.reject(err);
  }
  return Promise.race([answer, timedOut]).finally(() => clearTimeout(timer));
}

/** What a failed call means: the reference is wrong ('not-found'), or the source is unwell. */
export function causeOf(
  scheme: string,
  err: unknown,
): ['not-found' | 'transient' | 'timeout', string] {
  if (err instanceof SourceTimeout) return ['timeout', err.message];
  if (err instanceof SecretSourceError) return [err.kind, err.message];
  return ['transient', `the ${scheme} source failed: ${describeThrown(err)}`];
}

/** A thrown value, in words. Source error messages are considered safe; other values are not echoed. */
export function describeThrown(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  return `threw ${err === null ? 'null' : typeof err}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)} ms`;
  if (ms < 120_000) return `${Math.ceil(ms / 1000)} s`;
  return `${Math.ceil(ms / 60_000)} min`;
}
