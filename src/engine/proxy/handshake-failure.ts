/**
 * Why an agent's TLS handshake with Keygate failed, told so the log line helps. Only a client
 * that refused Keygate's certificate (a TLS alert about it: curl and Python send "unknown ca")
 * gets the "does it trust the Keygate CA?" hint. An agent that closes a spare connection before
 * its ClientHello (ECONNRESET, or a plain close) is routine and logged at debug, without a false
 * hint; one that closes silently after it (Node's clients do) gets the hint.
 */
import { errnoCode, HandshakeAbandonedError } from '../errors.js';

export interface HandshakeFailure {
  readonly level: 'info' | 'debug';
  readonly message: string;
}

/** OpenSSL's codes, as Node names them, for the alerts a client sends about a certificate. */
const CERTIFICATE_ALERTS = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

/** The agent went away before TLS completed: no alert, nothing to fix. */
const CLOSED = new Set(['ECONNRESET', 'EPIPE', 'ERR_SSL_UNEXPECTED_EOF_WHILE_READING']);

export function describeHandshakeFailure(err: Error): HandshakeFailure {
  if (err instanceof HandshakeAbandonedError) {
    return err.afterHello
      ? {
          level: 'info',
          message:
            "agent closed the connection after Keygate's certificate; does it trust the Keygate CA? (keygate env)",
        }
      : { level: 'debug', message: 'agent closed the tunnel before TLS completed' };
  }
  const code = errnoCode(err);
  if (code !== undefined && CERTIFICATE_ALERTS.has(code)) {
    return {
      level: 'info',
      message: "agent refused Keygate's certificate; does it trust the Keygate CA? (keygate env)",
    };
  }
  if (code === 'ERR_SSL_HTTP_REQUEST') {
    return {
      level: 'info',
      message: 'agent sent plain HTTP inside a CONNECT tunnel; it should speak TLS (https://)',
    };
  }
  if (code !== undefined && CLOSED.has(code)) {
    return { level: 'debug', message: 'agent closed the tunnel before TLS completed' };
  }
  return { level: 'info', message: 'agent did not complete TLS with Keygate' };
}
