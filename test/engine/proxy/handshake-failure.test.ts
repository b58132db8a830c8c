/**
 * Handshake failures (src/engine/proxy/handshake-failure.ts): the log line for an agent whose TLS
 * with Keygate failed. Real clients against a real terminated tunnel: only a client that refused
 * the certificate gets the "does it trust the Keygate CA?" hint; a closed spare connection does
 * not, and is logged at debug.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import {
  describeHandshakeFailure,
  type HandshakeFailure,
} from '../../../src/engine/proxy/handshake-failure.js';
import { terminateTls } from '../../../src/engine/proxy/tls-termination.js';
import { createTestPki } from '../../helpers/test-pki.js';

const servers: net.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A listener that terminates TLS as a tunnel does and reports the first handshake failure. */
async function terminatingServer(): Promise<{ port: number; failure: Promise<HandshakeFailure> }> {
  const pki = await createTestPki();
  const leaf = await pki.issue(['localhost']);
  const secureContext = tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem });
  let report!: (failure: HandshakeFailure) => void;
  const failure = new Promise<HandshakeFailure>((resolve) => (report = resolve));
  const server = net.createServer((socket) => {
    terminateTls(socket, Buffer.alloc(0), secureContext, 5_000, {
      onSecure: (secure) => secure.destroy(),
      onHandshakeError: (err) => report(describeHandshakeFailure(err)),
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, failure };
}

describe('describeHandshakeFailure', () => {
  it('curl refusing an untrusted certificate gets the trust hint', async () => {
    const { port, failure } = await terminatingServer();
    await new Promise<void>((resolve) =>
      execFile('curl', ['-s', '--max-time', '5', `https://localhost:${port}/`], () => resolve()),
    );
    expect(await failure).toEqual({
      level: 'info',
      message: "agent refused Keygate's certificate; does it trust the Keygate CA? (keygate env)",
    });
  });

  it('an agent that resets a spare connection is debug, with no trust hint', async () => {
    const { port, failure } = await terminatingServer();
    const client = net.connect(port, '127.0.0.1', () => client.resetAndDestroy());
    expect(await failure).toEqual({
      level: 'debug',
      message: 'agent closed the tunnel before TLS completed',
    });
  });

  it('a Node agent that does not trust the CA closes without an alert: it still gets the hint', async () => {
    const { port, failure } = await terminatingServer();
    // Node's own roots only: the test CA is not among them.
    const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost' });
    client.on('error', () => undefined);
    expect(await failure).toEqual({
      level: 'info',
      message:
        "agent closed the connection after Keygate's certificate; does it trust the Keygate CA? (keygate env)",
    });
  });

  it('an agent that closes a spare connection before its ClientHello is debug', async () => {
    const { port, failure } = await terminatingServer();
    const client = net.connect(port, '127.0.0.1', () => client.end());
    expect(await failure).toEqual({
      level: 'debug',
      message: 'agent closed the tunnel before TLS completed',
    });
  });

  it('plain HTTP inside the tunnel is named as such', async () => {
    const { port, failure } = await terminatingServer();
    const client = net.connect(port, '127.0.0.1', () => client.end('GET / HTTP/1.1\r\n\r\n'));
    client.on('error', () => undefined);
    const out = await failure;
    expect(out.level).toBe('info');
    expect(out.message).toMatch(/plain HTTP inside a CONNECT tunnel/);
    expect(out.message).not.toMatch(/trust/);
  });

  it('anything else says the handshake failed, without guessing why', () => {
    expect(describeHandshakeFailure(new Error('TLS handshake timed out'))).toEqual({
      level: 'info',
      message: 'agent did not complete TLS with Keygate',
    });
  });
});
