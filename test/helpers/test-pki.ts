/**
 * A throwaway PKI for fake upstream servers that pose as real hosts (api.openai.com …).
 *
 * Deliberately NOT Keygate's CA: the proxy must verify upstreams against a trust store it is
 * given, and a test that let Keygate's own CA vouch for an upstream would hide exactly the
 * bug it should catch. Every call makes a fresh CA, so tests never trust each other's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { parseServerName } from '../../src/engine/tls/server-name.js';
import {
  DAY_MS,
  ECDSA_SHA256,
  HOUR_MS,
  exportPrivateKeyPem,
  generateEcKeyPair,
  randomSerialNumber,
  x509,
} from './x509-runtime.js';

export interface TestPki {
  caPem: string;
  /** ca.pem in a temp dir, removed after the test file that created it. */
  caPath: string;
  /** A leaf for `hosts` (DNS names or IP literals; the first is also the CN). */
  issue(
    hosts: string[],
    options?: { expired?: boolean },
  ): Promise<{ certPem: string; keyPem: string }>;
}

/**
 * Temp dirs holding ca.pem, removed after the importing test file. Vitest ends its fork
 * workers with SIGTERM, so a process 'exit' handler alone would never run.
 */
const tempDirs: string[] = [];
function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
// Registered at import time, i.e. while vitest collects the importing file: runs when it ends.
afterAll(removeTempDirs);
process.once('exit', removeTempDirs);

export async function createTestPki(): Promise<TestPki> {
  const caKeys = await generateEcKeyPair(false);
  const ski = await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: [{ CN: ['Keygate Test Upstream CA'] }, { O: ['Keygate Tests'] }],
    notBefore: new Date(now - HOUR_MS),
    notAfter: new Date(now + 30 * DAY_MS),
    keys: caKeys,
    signingAlgorithm: ECDSA_SHA256,
    // Same shape as a real root, so strict verifiers accept it (see certificate-authority.ts).
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      ski,
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
    ],
  });
  const caPem = ca.toString('pem') + '\n';

  const dir = mkdtempSync(join(tmpdir(), 'keygate-test-pki-'));
  tempDirs.push(dir);
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, caPem);

  async function issue(
    hosts: string[],
    options: { expired?: boolean } = {},
  ): Promise<{ certPem: string; keyPem: string }> {
    const names = hosts.map((host) => parseServerName(host));
    const first = names[0];
    if (!first) throw new Error('createTestPki().issue needs at least one host');
    const keys = await generateEcKeyPair(true);
    const issuedAt = Date.now();
    const [notBefore, notAfter] = options.expired
      ? [issuedAt - 2 * DAY_MS, issuedAt - DAY_MS]
      : [issuedAt - HOUR_MS, issuedAt + 7 * DAY_MS];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialNumber(),
      subject: [{ CN: [first.value.slice(0, 64)] }],
      issuer: ca.subjectName,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        new x509.AuthorityKeyIdentifierExtension(ski.keyId),
        new x509.SubjectAlternativeNameExtension(
          names.map((n) => ({ type: n.kind, value: n.value })),
        ),
      ],
    });
    return { certPem: cert.toString('pem'), keyPem: await exportPrivateKeyPem(keys.privateKey) };
  }

  return { caPem, caPath, issue };
}
