/**
 * Upstream errors (src/engine/proxy/upstream-errors.ts): each Node network/TLS failure becomes
 * the agent-facing Keygate error it deserves, with its status, code and Node's own reason.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import {
  UpstreamTimeoutError,
  UpstreamTlsError,
  UpstreamUnreachableError,
} from '../../../src/engine/errors.js';
import { errors as undiciErrors } from 'undici';
import {
  classifyUpstreamError,
  UpstreamTimeout,
} from '../../../src/engine/proxy/upstream-errors.js';
import { createTestPki } from '../../helpers/test-pki.js';

function nodeError(code: string, message = `${code} happened`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

const servers: net.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

function failureOf(connect: () => net.Socket): Promise<Error> {
  return new Promise((resolve, reject) => {
    const socket = connect();
    socket.once('error', resolve);
    socket.once('secureConnect', () => {
      socket.destroy();
      reject(new Error('connected, but a failure was expected'));
    });
    socket.once('connect', () => {
      if (!(socket instanceof tls.TLSSocket)) {
        socket.destroy();
        reject(new Error('connected, but a failure was expected'));
      }
    });
  });
}

describe('classifyUpstreamError', () => {
  const TLS = [
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
    // Any other ERR_SSL_* / ERR_TLS_* code Node may add.
    'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
    'ERR_TLS_HANDSHAKE_TIMEOUT',
  ];

  it.each(TLS)('%s is a 502 UpstreamTlsError that says nothing was sent', (code) => {
    const err = nodeError(code);
    const out = classifyUpstreamError(err, 'api.test:443');
    expect(out).toBeInstanceOf(UpstreamTlsError);
    expect(out.status).toBe(502);
    expect(out.errorId).toBe('keygate_upstream_tls');
    expect(out.message).toBe(
      `api.test:443: the upstream's TLS certificate did not verify (${code}: ${code} happened); nothing was sent`,
    );
    expect(out.cause).toBe(err);
  });

  it('ETIMEDOUT is a 504 UpstreamTimeoutError', () => {
    const err = nodeError('ETIMEDOUT');
    const out = classifyUpstreamError(err, 'api.test:443');
    expect(out).toBeInstanceOf(UpstreamTimeoutError);
    expect(out.status).toBe(504);
    expect(out.errorId).toBe('keygate_upstream_timeout');
    expect(out.message).toBe('api.test:443: the upstream did not answer in time');
    expect(out.cause).toBe(err);
  });

  it("Keygate's own UpstreamTimeout (the response deadline) is a 504 UpstreamTimeoutError", () => {
    const deadline = new UpstreamTimeout('no response head within 30000 ms');
    expect(deadline.status).toBe(500);
    expect(deadline.code).toBe('upstream_deadline');
    const out = classifyUpstreamError(deadline, 'where');
    expect(out).toBeInstanceOf(UpstreamTimeoutError);
    expect(out.status).toBe(504);
    expect(out.cause).toBe(deadline);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', 'EAI_AGAIN'])(
    '%s is a 502 UpstreamUnreachableError with the code in its reason',
    (code) => {
      const err = nodeError(code, 'boom');
      const out = classifyUpstreamError(err, 'api.test:443');
      expect(out).toBeInstanceOf(UpstreamUnreachableError);
      expect(out.status).toBe(502);
      expect(out.errorId).toBe('keygate_upstream_unreachable');
      expect(out.message).toBe(`api.test:443: could not reach the upstream (${code}: boom)`);
      expect(out.cause).toBe(err);
    },
  );

  it('an error without a code is unreachable, with its message as the reason', () => {
    const out = classifyUpstreamError(new Error('socket hang up'), 'api.test:443');
    expect(out).toBeInstanceOf(UpstreamUnreachableError);
    expect(out.message).toBe('api.test:443: could not reach the upstream (socket hang up)');
  });

  it('a thrown non-Error becomes an Error cause, not a crash', () => {
    const out = classifyUpstreamError('weird', 'api.test:443');
    expect(out).toBeInstanceOf(UpstreamUnreachableError);
    expect(out.message).toBe('api.test:443: could not reach the upstream (weird)');
    expect(out.cause).toBeInstanceOf(Error);
  });

  it("undici's closed socket: the upstream closed the connection without answering (502)", () => {
    const err = new undiciErrors.SocketError('other side closed');
    const out = classifyUpstreamError(err, 'mapping api');
    expect(out).toBeInstanceOf(UpstreamUnreachableError);
    expect(out.message).toBe(
      'mapping api: the upstream closed the connection without answering (UND_ERR_SOCKET: other side closed)',
    );
  });

  it("undici's parse error, which carries no code, is named by its class: not HTTP/1.1 (502)", () => {
    const err = new undiciErrors.HTTPParserError('Response does not match the HTTP/1.1 protocol');
    const out = classifyUpstreamError(err, 'mapping api');
    expect(out).toBeInstanceOf(UpstreamUnreachableError);
    expect(out.message).toBe(
      "mapping api: the upstream's answer is not HTTP/1.1 (HTTPParserError: Response does not match the HTTP/1.1 protocol)",
    );
  });

  it('a real refused connection on 127.0.0.1 is unreachable', async () => {
    const port = await listen(net.createServer());
    servers.pop()?.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const err = await failureOf(() => net.connect({ host: '127.0.0.1', port }));
    const out = classifyUpstreamError(err, `127.0.0.1:${port}`);
    expect(out).toBeInstanceOf(UpstreamUnreachableError);
    expect(out.message).toContain('ECONNREFUSED');
  });

  describe('real TLS failures', () => {
    it('an expired certificate is a TLS error naming CERT_HAS_EXPIRED', async () => {
      const pki = await createTestPki();
      const leaf = await pki.issue(['localhost'], { expired: true });
      const port = await listen(tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }));
      const err = await failureOf(() =>
        tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.caPem }),
      );
      const out = classifyUpstreamError(err, 'localhost');
      expect(out).toBeInstanceOf(UpstreamTlsError);
      expect(out.message).toContain('CERT_HAS_EXPIRED');
    });

    it('a certificate from an untrusted CA is a TLS error', async () => {
      const pki = await createTestPki();
      const leaf = await pki.issue(['localhost']);
      const port = await listen(tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }));
      const err = await failureOf(() =>
        tls.connect({ host: '127.0.0.1', port, servername: 'localhost' }),
      );
      expect(classifyUpstreamError(err, 'localhost')).toBeInstanceOf(UpstreamTlsError);
    });

    it('a certificate for another name is a TLS error naming ERR_TLS_CERT_ALTNAME_INVALID', async () => {
      const pki = await createTestPki();
      const leaf = await pki.issue(['other.test']);
      const port = await listen(tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }));
      const err = await failureOf(() =>
        tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.caPem }),
      );
      const out = classifyUpstreamError(err, 'localhost');
      expect(out).toBeInstanceOf(UpstreamTlsError);
      expect(out.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    });

    it('a plaintext server spoken to in TLS is a TLS error, not unreachable', async () => {
      const port = await listen(
        net.createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')),
      );
      const err = await failureOf(() =>
        tls.connect({ host: '127.0.0.1', port, servername: 'localhost' }),
      );
      expect(classifyUpstreamError(err, 'localhost')).toBeInstanceOf(UpstreamTlsError);
    });
  });
});
