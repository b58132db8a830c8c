/** Why a secret could not be resolved: the resolver's one error, and its kinds. */
import { defineError } from '../errors.js';

export type SecretResolutionKind =
  'not-found' | 'transient' | 'timeout' | 'invalid-ref' | 'cooldown';

/** Why `resolve` failed. The message names the reference and the cause, never a value. */
export class SecretResolutionError extends defineError('SecretResolutionError', {
  status: 500,
  code: 'secret_resolution',
}) {
  constructor(
    message: string,
    readonly ref: string,
    readonly kind: SecretResolutionKind,
    /** For 'cooldown': how long until the source is tried again (e.g. for `Retry-After`). */
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
