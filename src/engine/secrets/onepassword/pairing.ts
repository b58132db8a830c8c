import type { Secret } from '../secret.js';
import { abortable, OpAbortError, withTimeout } from './abortable.js';
import {
  classifySdkError,
  DESKTOP_LOCKED_MESSAGE,
  DESKTOP_MISSING_MESSAGE,
  networkDetail,
  UNREACHABLE_MESSAGE,
  type OpErrorCategory,
} from './error-mapping.js';
import type { OpClientFactory } from './op-client.js';
import { defineError } from '../../errors.js';

export interface PairingResult {
  /** Vaults the service account can read. 0 works, but nothing will resolve. */
  vaultCount: number;
}

export type PairingFailure =
  /** Not a service-account token at all; refused before any request. */
  | 'malformed-token'
  /** 1Password refused it (revoked, expired, deleted service account). */
  | 'rejected'
  /** Could not reach 1Password, it did not answer in time, or the rate limit is spent. */
  | 'unreachable'
  | 'failed';

/** Why pairing failed, in words that never contain the token. */
export class PairingError extends defineError('PairingError', { status: 500, code: 'pairing' }) {
  constructor(
    message: string,
    readonly reason: PairingFailure,
  ) {
    super(message);
  }
}

export interface PairingOptions {
  /** Bound on the whole check (the SDK can hang on a silent server). Default 20 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 20_000;

/**
 * Check a service-account token before it is stored: create a client with it and list the
 * vaults it can see. Malformed tokens fail inside the SDK before any request (measured ~1-10 ms:
 * see the SDK test). Errors never echo the token, nor carry it in `cause`.
 */
export async function pairServiceAccount(
  factory: OpClientFactory,
  token: Secret,
  options: PairingOptions = {},
): Promise<PairingResult> {
  const value = token.reveal(); // SECRET: never log
  if (value.trim() === '') {
    throw new PairingError(
      'the token is empty: paste the service account token',
      'malformed-token',
    );
  }
  if (value.trim() !== value) {
    throw new PairingError(
      'the token has spaces or line breaks around it: paste only the token',
      'malformed-token',
    );
  }
  const signal = withTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.signal);
  try {
    const client = await abortable(
      factory({ kind: 'service-account', token }),
      signal,
      'connecting to 1Password',
    );
    const vaults = await abortable(client.vaults.list(), signal, 'listing vaults');
    return { vaultCount: vaults.length };
  } catch (err) {
    if (err instanceof OpAbortError) {
      throw new PairingError(
        `${UNREACHABLE_MESSAGE}: no answer within ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s ` +
          `(${err.message}); check the network and try again`,
        'unreachable',
      );
    }
    throw toPairingError(classifySdkError(err, [value]));
  }
}

/**
 * Check a 1Password app account before it is stored (issue 10 §4): create a desktop client and
 * list its vaults. Without the app (or with its SDK integration off) this fails at once with
 * DESKTOP_MISSING_MESSAGE; a locked app with DESKTOP_LOCKED_MESSAGE.
 */
export async function pairDesktopAccount(
  factory: OpClientFactory,
  accountName: string,
  options: PairingOptions = {},
): Promise<PairingResult> {
  const signal = withTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.signal);
  try {
    const client = await abortable(
      factory({ kind: 'desktop', accountName }),
      signal,
      'asking the 1Password app',
    );
    const vaults = await abortable(client.vaults.list(), signal, 'listing vaults');
    return { vaultCount: vaults.length };
  } catch (err) {
    if (err instanceof OpAbortError) {
      throw new PairingError(
        `the 1Password app did not answer within ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s ` +
          '(was the approval prompt dismissed?); try again',
        'unreachable',
      );
    }
    throw toPairingError(classifySdkError(err));
  }
}

function toPairingError({
  category,
  detail,
}: {
  category: OpErrorCategory;
  detail: string;
}): PairingError {
  switch (category) {
    case 'invalid-token':
      return new PairingError(
        `this is not a valid 1Password service account token (${detail}); ` +
          'copy it again from 1Password (it starts with ops_)',
        'malformed-token',
      );
    case 'token-rejected':
    case 'auth-expired':
      return new PairingError(
        `1Password refused the token (${detail}); it may be revoked or expired: create a new one`,
        'rejected',
      );
    case 'rate-limit':
      return new PairingError(
        '1Password rate limit reached for this service account; try again later (limits are per hour)',
        'unreachable',
      );
    case 'network':
      return new PairingError(
        `${UNREACHABLE_MESSAGE}: ${networkDetail(detail)}; check the network and try again`,
        'unreachable',
      );
    case 'server-error':
      return new PairingError(
        `1Password had a server error (${detail}); try again later`,
        'unreachable',
      );
    case 'desktop-missing':
      return new PairingError(DESKTOP_MISSING_MESSAGE, 'failed');
    case 'desktop-locked':
      return new PairingError(DESKTOP_LOCKED_MESSAGE, 'failed');
    default:
      return new PairingError(`1Password could not be paired: ${detail}`, 'failed');
  }
}
