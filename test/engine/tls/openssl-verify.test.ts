/**
 * docs/decisions/0002, defect 3: http-mitm-proxy's certificates fail `openssl verify -x509_strict` (no AKI,
 * non-critical CA basicConstraints), and Python 3.13 rejects them for the same reasons. These
 * tests hold ours to the strict check with the real OpenSSL binary.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadOrCreateCertificateAuthority,
  type CertificateAuthority,
} from '../../../src/engine/tls/certificate-authority.js';
import { LeafCertificates } from '../../../src/engine/tls/leaf-certificates.js';

const OPENSSL = '/usr/bin/openssl';
const openssl = (...args: string[]) =>
  execFileSync(OPENSSL, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

let dir: string;
let ca: CertificateAuthority;
let leaves: LeafCertificates;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keygate-openssl-'));
  ca = await loadOrCreateCertificateAuthority(join(dir, 'ca'));
  leaves = await LeafCertificates.create(ca);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function writeLeaf(host: string): Promise<string> {
  const { certPem } = await leaves.pemFor(host);
  const path = join(dir, `${host.replace(/[^a-z0-9.]/gi, '_')}.pem`);
  writeFileSync(path, certPem);
  return path;
}

describe('openssl verify -x509_strict', () => {
  it.each([
    ['a DNS name', 'api.example.com', '-verify_hostname', 'api.example.com'],
    ['an IPv4 literal', '127.0.0.1', '-verify_ip', '127.0.0.1'],
    ['an IPv6 literal', '[::1]', '-verify_ip', '::1'],
  ])(
    'accepts a leaf for %s, with the name checked too',
    async (_kind, host, nameCheck, checkName) => {
      const leafPath = await writeLeaf(host);
      const out = openssl(
        'verify',
        '-x509_strict',
        '-purpose',
        'sslserver',
        nameCheck,
        checkName,
        '-CAfile',
        ca.certPath,
        leafPath,
      );
      expect(out.trim()).toBe(`${leafPath}: OK`);
    },
  );

  it('rejects a leaf for another name (the SAN is what gets checked)', async () => {
    const leafPath = await writeLeaf('api.example.com');
    expect(() =>
      openssl(
        'verify',
        '-x509_strict',
        '-verify_hostname',
        'evil.example.com',
        '-CAfile',
        ca.certPath,
        leafPath,
      ),
    ).toThrow(/hostname mismatch/i);
  });

  it('rejects the leaf against another CA', async () => {
    const other = await loadOrCreateCertificateAuthority(join(dir, 'other-ca'));
    const leafPath = await writeLeaf('api.example.com');
    expect(() => openssl('verify', '-x509_strict', '-CAfile', other.certPath, leafPath)).toThrow();
  });
});

describe('openssl x509 -text', () => {
  it('shows the CA basicConstraints critical, keyUsage critical, SKI and AKI', () => {
    const text = openssl('x509', '-noout', '-text', '-in', ca.certPath);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(
      /X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/,
    );
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toContain('X509v3 Authority Key Identifier');
    expect(text).toContain('ecdsa-with-SHA256');
    expect(text).toContain('NIST CURVE: P-256');
  });

  it('shows the leaf with AKI = CA SKI, a SAN, and a non-CA critical basicConstraints', async () => {
    const caText = openssl('x509', '-noout', '-text', '-in', ca.certPath);
    const caSki = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(caText)?.[1];
    expect(caSki).toBeDefined();

    const text = openssl('x509', '-noout', '-text', '-in', await writeLeaf('api.example.com'));
    const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1];
    expect(aki).toBe(caSki);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(text).toMatch(/X509v3 Subject Alternative Name:\s+DNS:api\.example\.com/);
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toMatch(/Subject: CN\s*=\s*api\.example\.com/);
  });

  it('puts IP literals in an IP SAN, not a DNS one', async () => {
    const text = openssl('x509', '-noout', '-text', '-in', await writeLeaf('::ffff:10.0.0.1'));
    expect(text).toMatch(/X509v3 Subject Alternative Name:\s+IP Address:0:0:0:0:0:FFFF:A00:1/);
    expect(text).not.toContain('DNS:');
  });
});
