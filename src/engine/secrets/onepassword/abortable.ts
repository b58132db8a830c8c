import { SecretSourceError } from '../secret-source.js';
import { defineError } from '../../errors.js';

/** The caller stopped waiting (its signal aborted). The SDK call itself runs on, unobserved. */
export class OpAbortError extends defineError(
  'AbortError',
  { status: 500, code: 'op_aborted' },
  SecretSourceError,
) {
  constructor(what: string, signal: AbortSignal) {
    const why =
      signal.reason instanceof Error && signal.reason.message ? `: ${signal.reason.message}` : '';
    super(`${what} was cancelled${why}`, 'transient', undefined, { cause: signal.reason });
  }
}

/**
 * Race `promise` against `signal`. The 1Password SDK cannot cancel a call (and hangs up to 300 s
 * on a silent server), so aborting only stops waiting: the abandoned promise gets a no-op
 * handler so its late failure is not an unhandled rejection.
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  what = 'the 1Password call',
): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(new OpAbortError(what, signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => undefined);
      reject(new OpAbortError(what, signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** `signal` (if any) combined with a timeout on real timers. */
export function withTimeout(timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
}
