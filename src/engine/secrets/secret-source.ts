import type { Secret } from './secret.js';
import { defineError } from '../errors.js';

export interface ReferenceCheck {
  readonly ok: boolean;
  /** Why the reference is malformed, in plain words; absent when ok. */
  readonly reason?: string;
}

/** Why a resolution failed; decides caching and cooldown in the resolver. */
export type SecretFailureKind =
  /** The reference does not exist or is not readable (item deleted, field renamed, no access). */
  | 'not-found'
  /** The source is down, slow, rate-limited or its credentials expired; worth retrying later. */
  | 'transient';

export class SecretSourceError extends defineError('SecretSourceError', {
  status: 500,
  code: 'secret_source',
}) {
  constructor(
    message: string,
    readonly kind: SecretFailureKind,
    /** For rate limits: how long the source asked us to wait. */
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Where secrets come from (`env://`, `op://`). The proxy never talks to a source directly: the
 * resolver in front adds caching, single-flight, cooldowns and a timeout.
 */
export interface SecretSource {
  /** URL scheme this source answers, without `://` (`env`, `op`). */
  readonly scheme: string;
  /** Offline syntax check, cheap enough to run on every keystroke. */
  validate(ref: string): ReferenceCheck;
  /** Resolve one reference. Must honour `signal`; must throw SecretSourceError on failure. */
  resolve(ref: string, signal: AbortSignal): Promise<Secret>;
  /** Optional bulk form, for prefetching every mapped reference in one call. */
  resolveMany?(
    refs: readonly string[],
    signal: AbortSignal,
  ): Promise<Map<string, Secret | SecretSourceError>>;
  /** One line for `doctor` and logs. */
  explain(): string;
}
