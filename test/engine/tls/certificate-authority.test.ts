import { X509Certificate } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CertificateAuthorityError,
  loadOrCreateCertificateAuthority,
} from '../../../src/engine/tls/certificate-authority.js';
import { x509 } from '../../helpers/x509-runtime.js';

const created: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-ca-'));
  created.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;
const YEAR_MS = 365.25 * 24 * 3600 * 1000;

describe('loadOrCreateCertificateAuthority: creation', () => {
  it('creates a 0700 dir holding a 0600 key and a 0644 cert, and nothing else', async () => {
    const dir = join(tempDir(), 'nested', 'keygate');
    const ca = await loadOrCreateCertificateAuthority(dir);

    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'ca-key.pem'))).toBe(0o600);
    expect(mode(join(dir, 'ca.pem'))).toBe(0o644 & ~process.umask());
    expect(ca.certPath).toBe(join(dir, 'ca.pem'));
    // Atomic writes leave no temp files behind.
    expect(readdirSync(dir).sort()).toEqual(['ca-key.pem', 'ca.pem']);
  });

  it('makes a 10-year ECDSA P-256 CA with the extensions strict verifiers require', async () => {
    const before = Date.now();
    const ca = await loadOrCreateCertificateAuthority(tempDir());
    // Parsed by @peculiar/x509, an encoder independent of Keygate's own DER writer.
    const cert = new x509.X509Certificate(ca.certPem);

    expect(ca.fingerprint256).toBe(new X509Certificate(ca.certPem).fingerprint256);
    expect(ca.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(cert.subject).toMatch(/^CN=Keygate Local CA \(.+ \d{4}-\d{2}-\d{2}\), O=Keygate$/);
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
    expect(cert.publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });

    const validity = cert.notAfter.getTime() - cert.notBefore.getTime();
    expect(validity / YEAR_MS).toBeGreaterThan(9.99);
    expect(validity / YEAR_MS).toBeLessThan(10.01);
    expect(cert.notBefore.getTime()).toBeLessThanOrEqual(before - 59 * 60 * 1000);
    expect(ca.notAfter).toEqual(cert.notAfter);

    const serial = cert.serialNumber;
    expect(serial).toHaveLength(32); // 16 octets, positive, no sign pad
    expect(Number.parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);

    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    expect(bc).toMatchObject({ ca: true, pathLength: 0, critical: true });
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    expect(ku?.critical).toBe(true);
    expect(ku?.usages).toBe(
      x509.KeyUsageFlags.keyCertSign |
        x509.KeyUsageFlags.cRLSign |
        x509.KeyUsageFlags.digitalSignature,
    );
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    expect(ski?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(aki?.keyId).toBe(ski?.keyId);
    expect(await cert.isSelfSigned()).toBe(true);
  });

  it('holds the signing key as a P-256 key object that shows no key material when inspected', async () => {
    const dir = tempDir();
    const ca = await loadOrCreateCertificateAuthority(dir);
    expect(ca.signingKey.type).toBe('private');
    expect(ca.signingKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    const keyBody = readFileSync(join(dir, 'ca-key.pem'), 'utf8').split('\n')[1] ?? '';
    expect(keyBody.length).toBeGreaterThan(20);
    const shown = inspect(ca, { depth: 10 }) + JSON.stringify(ca);
    expect(shown).not.toContain(keyBody.slice(0, 20));
    expect(shown).not.toContain('PRIVATE KEY');
  });

  it('creates one CA when several callers start at once on a fresh home (the lock file decides)', async () => {
    // The app and `keygate serve` (or two first commands) racing: each used to see the other's
    // key without its certificate yet and refuse the CA as incomplete (CI hit it).
    const dir = tempDir();
    const cas = await Promise.all(
      Array.from({ length: 6 }, () => loadOrCreateCertificateAuthority(dir)),
    );
    expect(new Set(cas.map((ca) => ca.fingerprint256)).size).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['ca-key.pem', 'ca.pem']);
  });

  it('takes over a dangling symlink planted at ca.lock at once, without spinning', async () => {
    const dir = tempDir();
    symlinkSync(join(dir, 'nowhere'), join(dir, 'ca.lock'));
    const started = Date.now();
    const cpu = process.cpuUsage();
    const ca = await loadOrCreateCertificateAuthority(dir);
    const used = process.cpuUsage(cpu);
    expect(ca.certPem).toContain('BEGIN CERTIFICATE');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((used.user + used.system) / 1000).toBeLessThan(2_000);
    expect(readdirSync(dir).sort()).toEqual(['ca-key.pem', 'ca.pem']);
  });

  it('makes a different CA per install', async () => {
    const a = await loadOrCreateCertificateAuthority(tempDir());
    const b = await loadOrCreateCertificateAuthority(tempDir());
    expect(a.fingerprint256).not.toBe(b.fingerprint256);
  });
});

describe('loadOrCreateCertificateAuthority: loading', () => {
  it('loads the same CA on the second call', async () => {
    const dir = tempDir();
    const first = await loadOrCreateCertificateAuthority(dir);
    const second = await loadOrCreateCertificateAuthority(dir);
    expect(second.fingerprint256).toBe(first.fingerprint256);
    expect(second.certPem).toBe(first.certPem);
  });

  it('refuses a key others can read, telling the user to chmod 600, and leaves it alone', async () => {
    const dir = tempDir();
    await loadOrCreateCertificateAuthority(dir);
    const keyPath = join(dir, 'ca-key.pem');
    chmodSync(keyPath, 0o644);

    const attempt = loadOrCreateCertificateAuthority(dir);
    await expect(attempt).rejects.toBeInstanceOf(CertificateAuthorityError);
    await expect(attempt).rejects.toThrow(`chmod 600 ${keyPath}`);
    await expect(attempt).rejects.toMatchObject({ name: 'CertificateAuthorityError' });
    expect(mode(keyPath)).toBe(0o644); // refused, not "fixed"
  });

  it('refuses a group-readable key too', async () => {
    const dir = tempDir();
    await loadOrCreateCertificateAuthority(dir);
    chmodSync(join(dir, 'ca-key.pem'), 0o640);
    await expect(loadOrCreateCertificateAuthority(dir)).rejects.toThrow(/mode 0640/);
  });

  it('refuses a lone cert without its key, and does not overwrite it', async () => {
    const dir = tempDir();
    const ca = await loadOrCreateCertificateAuthority(dir);
    unlinkSync(join(dir, 'ca-key.pem'));

    const attempt = loadOrCreateCertificateAuthority(dir);
    await expect(attempt).rejects.toBeInstanceOf(CertificateAuthorityError);
    await expect(attempt).rejects.toThrow(/incomplete.*ca-key\.pem does not/);
    expect(readdirSync(dir)).toEqual(['ca.pem']);
    expect(new X509Certificate(ca.certPem).fingerprint256).toBe(ca.fingerprint256);
  });

  it('completes a lone key with a new certificate for that key (what a kill between the writes leaves)', async () => {
    const dir = tempDir();
    const first = await loadOrCreateCertificateAuthority(dir);
    const key = readFileSync(join(dir, 'ca-key.pem'), 'utf8');
    unlinkSync(join(dir, 'ca.pem'));

    const recovered = await loadOrCreateCertificateAuthority(dir);

    expect(readFileSync(join(dir, 'ca-key.pem'), 'utf8')).toBe(key);
    expect(mode(join(dir, 'ca.pem'))).toBe(0o644);
    const cert = new X509Certificate(recovered.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.checkPrivateKey(recovered.signingKey)).toBe(true);
    // Same key, so the same key identifier: leaves chain to it as they did to the lost one.
    expect(recovered.keyIdentifier.equals(first.keyIdentifier)).toBe(true);
    expect((await loadOrCreateCertificateAuthority(dir)).fingerprint256).toBe(
      recovered.fingerprint256,
    );
  });

  it('does not complete a lone key that others can read, or one that is not a P-256 PKCS#8 key', async () => {
    const dir = tempDir();
    await loadOrCreateCertificateAuthority(dir);
    unlinkSync(join(dir, 'ca.pem'));
    chmodSync(join(dir, 'ca-key.pem'), 0o644);
    await expect(loadOrCreateCertificateAuthority(dir)).rejects.toThrow(/mode 0644/);
    writeFileSync(join(dir, 'ca-key.pem'), 'not a key', { mode: 0o600 });
    chmodSync(join(dir, 'ca-key.pem'), 0o600);
    await expect(loadOrCreateCertificateAuthority(dir)).rejects.toThrow(/not a PEM file/);
    expect(readdirSync(dir)).toEqual(['ca-key.pem']);
  });

  it('refuses a cert and key that do not belong together', async () => {
    const one = tempDir();
    const two = tempDir();
    await loadOrCreateCertificateAuthority(one);
    await loadOrCreateCertificateAuthority(two);
    copyFileSync(join(two, 'ca.pem'), join(one, 'ca.pem'));

    await expect(loadOrCreateCertificateAuthority(one)).rejects.toThrow(
      /is not the private key of/,
    );
  });

  it('refuses garbage in place of the certificate or the key', async () => {
    const dir = tempDir();
    await loadOrCreateCertificateAuthority(dir);
    writeFileSync(join(dir, 'ca.pem'), 'not a certificate');
    await expect(loadOrCreateCertificateAuthority(dir)).rejects.toThrow(
      /not a PEM X\.509 certificate/,
    );

    const other = tempDir();
    await loadOrCreateCertificateAuthority(other);
    writeFileSync(
      join(other, 'ca-key.pem'),
      '-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n',
      { mode: 0o600 },
    );
    await expect(loadOrCreateCertificateAuthority(other)).rejects.toThrow(/PKCS#8/);
  });

  it('refuses a CA directory others can write to', async () => {
    const dir = join(tempDir(), 'shared');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o777);
    await expect(loadOrCreateCertificateAuthority(dir)).rejects.toThrow(/chmod 700/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
