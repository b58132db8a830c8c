/**
 * Turns a Node network/TLS error from an upstream into the agent-facing error it deserves.
 * The reason is Node's own code and message (e.g. CERT_HAS_EXPIRED), which never holds a secret.
 */
import {
  defineError,
  UpstreamTimeoutError,
  UpstreamTlsError,
  UpstreamUnreachableError,
  type KeygateError,
} from '../errors.js';

// OpenSSL verification codes Node surfaces (see `X509_V_ERR_*` in openssl/x509_vfy.h) and Node's own.
const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

export class UpstreamTimeout extends defineError('UpstreamTimeout', {
  status: 500,
  code: 'upstream_deadline',
}) {}

export function classifyUpstreamError(err: unknown, where: string): KeygateError {
  const error = err instanceof Error ? err : new Error(String(err));
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (error instanceof UpstreamTimeout || code === 'ETIMEDOUT') {
    return new UpstreamTimeoutError(`${where}: the upstream did not answer in time`, {
      cause: error,
    });
  }
  if (TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    return new UpstreamTlsError(
      `${where}: the upstream's TLS certificate did not verify (${code}: ${error.message}); nothing was sent`,
      { cause: error },
    );
  }
  // A code, or else a class name worth saying (undici's HTTPParserError carries no code).
  const label = code || (error.name === 'Error' ? '' : error.name);
  const reason = label ? `${label}: ${error.message}` : error.message;
  if (code === 'UND_ERR_SOCKET') {
    return new UpstreamUnreachableError(
      `${where}: the upstream closed the connection without answering (${reason})`,
      { cause: error },
    );
  }
  if (error.name === 'HTTPParserError' || code.startsWith('HPE_')) {
    return new UpstreamUnreachableError(
      `${where}: the upstream's answer is not HTTP/1.1 (${reason})`,
      {
        cause: error,
      },
    );
  }
  return new UpstreamUnreachableError(`${where}: could not reach the upstream (${reason})`, {
    cause: error,
  });
}
