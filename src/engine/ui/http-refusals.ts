/**
 * What the UI server answers before any operation runs: the transport's own refusals (wrong
 * method, no token, a body too large…). Named errors like every other (errors.ts, defineError),
 * plus the response headers the refusal needs (`Allow`, `WWW-Authenticate`).
 */
import { defineError, NamedError } from '../errors.js';

export abstract class HttpRefusal extends NamedError {
  constructor(
    message: string,
    /** Sent with the answer. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const PayloadTooLarge = defineError(
  'PayloadTooLarge',
  { status: 413, code: 'payload_too_large' },
  HttpRefusal,
);
export const MethodNotAllowed = defineError(
  'MethodNotAllowed',
  { status: 405, code: 'method_not_allowed' },
  HttpRefusal,
);
export const Unauthorized = defineError(
  'Unauthorized',
  { status: 401, code: 'unauthorized' },
  HttpRefusal,
);
export const UnknownOperation = defineError(
  'UnknownOperation',
  { status: 404, code: 'unknown_operation' },
  HttpRefusal,
);
export const Forbidden = defineError('Forbidden', { status: 403, code: 'forbidden' }, HttpRefusal);
export const UnsupportedMediaType = defineError(
  'UnsupportedMediaType',
  { status: 415, code: 'unsupported_media_type' },
  HttpRefusal,
);
export const NotFound = defineError('NotFound', { status: 404, code: 'not_found' }, HttpRefusal);
export const InternalError = defineError(
  'InternalError',
  { status: 500, code: 'internal' },
  HttpRefusal,
);
