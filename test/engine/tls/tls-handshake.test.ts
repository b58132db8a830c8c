/**
 * Real handshakes against a single SNI server, the way the proxy serves intercepted hosts:
 * Node's TLS client, and Python's ssl module with VERIFY_X509_STRICT (Python 3.13's default,
 * docs/decisions/0002, defect 3).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadOrCreateCertificateAuthority,
  type CertificateAuthority,
} from '../../../src/engine/tls/certificate-authority.js';
import { LeafCertificates } from '../../../src/engine/tls/leaf-certificates.js';
import { createTestPki } from '../../helpers/test-pki.js';

const execFileAsync = promisify(execFile);

let dir: string;
let ca: CertificateAuthority;
let leaves: LeafCertificates;
let server: tls.Server;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keygate-tls-'));
  ca = await loadOrCreateCertificateAuthority(join(dir, 'ca'));
  leaves = await LeafCertificates.create(ca);
  server = tls.createServer(
    {
      SNICallback: (name, cb) =>
        void leaves.secureContextFor(name).then(
          (context) => cb(null, context),
          (error: Error) => cb(error),
        ),
    },
    (socket) => socket.end('hello from keygate\n'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  port = address.port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

interface HandshakeResult {
  authorized: boolean;
  authorizationError?: string;
  protocol: string | null;
  peerSubjectCN?: string;
  data: string;
}

function handshake(servername: string, caPem: string): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: caPem });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.once('error', reject);
    socket.once('end', () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      resolve({
        authorized: socket.authorized,
        authorizationError: socket.authorizationError?.toString(),
        protocol: socket.getProtocol(),
        peerSubjectCN: Array.isArray(cn) ? cn[0] : cn,
        data,
      });
    });
  });
}

describe('TLS handshake through SNICallback', () => {
  it('authorizes a leaf minted on the fly for api.example.com', async () => {
    const result = await handshake('api.example.com', ca.certPem);
    expect(result).toMatchObject({
      authorized: true,
      peerSubjectCN: 'api.example.com',
      data: 'hello from keygate\n',
    });
    expect(['TLSv1.2', 'TLSv1.3']).toContain(result.protocol);
  });

  it('is rejected by a client that trusts another CA', async () => {
    const other = await createTestPki();
    await expect(handshake('api.example.com', other.caPem)).rejects.toThrow(
      /unable to verify|self[- ]signed|unable to get local issuer/i,
    );
  });

  it('refuses TLS 1.1 (minVersion TLSv1.2)', async () => {
    const attempt = new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'old.example.com',
        ca: ca.certPem,
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
      });
      socket.once('secureConnect', () => resolve(socket.getProtocol()));
      socket.once('error', reject);
    });
    await expect(attempt).rejects.toThrow();
  });

  it('passes Python ssl with VERIFY_X509_STRICT (the Python 3.13 default)', async (ctx) => {
    const python = await execFileAsync('python3', ['--version']).catch(() => null);
    if (!python) ctx.skip();
    const script = `
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as raw:
    with ctx.wrap_socket(raw, server_hostname="strict.example.com") as s:
        print(s.version(), s.getpeercert()["subjectAltName"])
`;
    const { stdout } = await execFileAsync('python3', ['-c', script, ca.certPath, String(port)]);
    expect(stdout).toMatch(/TLSv1\.[23] \(\('DNS', 'strict\.example\.com'\),\)/);
  });
});

describe('createTestPki (fake upstreams)', () => {
  it('issues leaves a client trusting its CA accepts, and expired ones it refuses', async () => {
    const pki = await createTestPki();
    const another = await createTestPki();
    expect(pki.caPem).not.toBe(another.caPem);

    const serve = async (expired: boolean) => {
      const { certPem, keyPem } = await pki.issue(['api.openai.com', '127.0.0.1'], { expired });
      const upstream = tls.createServer({ cert: certPem, key: keyPem }, (s) => s.end('ok'));
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      const { port: upstreamPort } = upstream.address() as { port: number };
      try {
        return await new Promise<boolean>((resolve, reject) => {
          const socket = tls.connect({
            host: '127.0.0.1',
            port: upstreamPort,
            servername: 'api.openai.com',
            ca: pki.caPem,
          });
          socket.once('secureConnect', () => {
            resolve(socket.authorized);
            socket.destroy();
          });
          socket.once('error', reject);
        });
      } finally {
        await new Promise<void>((resolve) => upstream.close(() => resolve()));
      }
    };

    await expect(serve(false)).resolves.toBe(true);
    await expect(serve(true)).rejects.toThrow(/certificate has expired/);
  });
});
