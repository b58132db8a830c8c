import { X509Certificate, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  loadOrCreateCertificateAuthority,
  type CertificateAuthority,
} from '../../../src/engine/tls/certificate-authority.js';
import { LEAF_CONTEXT_BYTES, LeafCertificates } from '../../../src/engine/tls/leaf-certificates.js';
import { ServerNameError } from '../../../src/engine/tls/server-name.js';
import { x509 } from '../../helpers/x509-runtime.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

let root: string;
let ca: CertificateAuthority;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'keygate-leaves-'));
  ca = await loadOrCreateCertificateAuthority(join(root, 'ca'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** The CA as @peculiar/x509 reads it: an independent check of Keygate's own DER writer. */
function caCert(): x509.X509Certificate {
  return new x509.X509Certificate(ca.certPem);
}

async function leafCert(leaves: LeafCertificates, host: string): Promise<x509.X509Certificate> {
  return new x509.X509Certificate((await leaves.pemFor(host)).certPem);
}

describe('leaf contents', () => {
  it('is short-lived (7 days, ≤ 8) while the CA lasts ~10 years', async () => {
    const leaves = await LeafCertificates.create(ca);
    const before = Date.now();
    const cert = await leafCert(leaves, 'api.example.com');

    const leafDays = (cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY;
    expect(leafDays).toBeLessThanOrEqual(8);
    expect(cert.notAfter.getTime() - before).toBeGreaterThan(7 * DAY - 60_000);
    expect(cert.notBefore.getTime()).toBeLessThanOrEqual(before - HOUR + 1000);

    const caYears = (ca.notAfter.getTime() - caCert().notBefore.getTime()) / (365.25 * DAY);
    expect(caYears).toBeGreaterThan(9.99);
    expect(caYears).toBeLessThan(10.01);
  });

  it('is signed by the CA, names the host in the SAN and CN, and is no CA itself', async () => {
    const leaves = await LeafCertificates.create(ca);
    const cert = await leafCert(leaves, 'API.Example.com.');

    expect(await cert.verify({ publicKey: caCert().publicKey })).toBe(true);
    expect(cert.issuer).toBe(caCert().subject);
    expect(cert.subject).toBe('CN=api.example.com');
    expect(cert.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
    expect(cert.publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    expect(cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON()).toEqual([
      { type: 'dns', value: 'api.example.com' },
    ]);
    expect(cert.getExtension(x509.BasicConstraintsExtension)).toMatchObject({
      ca: false,
      critical: true,
    });
    expect(cert.getExtension(x509.KeyUsagesExtension)).toMatchObject({
      usages: x509.KeyUsageFlags.digitalSignature,
      critical: true,
    });
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.serverAuth,
    ]);
    const caSki = caCert().getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(caSki);
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(cert.serialNumber).toHaveLength(32);
  });

  it('uses IP SANs for IPv4 and IPv6 literals, bracketed or not', async () => {
    const leaves = await LeafCertificates.create(ca);
    for (const [host, ip] of [
      ['127.0.0.1', '127.0.0.1'],
      ['::1', '::1'],
      ['[::1]', '::1'],
      ['[2001:DB8::1]', '2001:db8::1'],
    ] as const) {
      const pem = (await leaves.pemFor(host)).certPem;
      expect(new X509Certificate(pem).checkIP(ip)).toBe(ip);
      expect(new X509Certificate(pem).subjectAltName).toMatch(/^IP Address:/);
    }
    // `::1` and `[::1]` are one host, so one leaf.
    expect((await leaves.pemFor('::1')).certPem).toBe((await leaves.pemFor('[::1]')).certPem);
  });

  it('truncates a long CN to 64 characters but keeps the full name in the SAN', async () => {
    const leaves = await LeafCertificates.create(ca);
    const host = `${'a'.repeat(60)}.${'b'.repeat(60)}.example.com`;
    const pem = (await leaves.pemFor(host)).certPem;
    const cert = new X509Certificate(pem);
    expect(cert.subject).toBe(`CN=${host.slice(0, 64)}`);
    expect(cert.checkHost(host)).toBe(host);
  });

  it('shares one key across leaves', async () => {
    const leaves = await LeafCertificates.create(ca);
    const a = await leaves.pemFor('a.example.com');
    const b = await leaves.pemFor('b.example.com');
    expect(a.keyPem).toBe(b.keyPem);
    expect(a.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(a.certPem).not.toBe(b.certPem);
    expect(
      new X509Certificate(a.certPem).checkPrivateKey(
        (await import('node:crypto')).createPrivateKey(a.keyPem),
      ),
    ).toBe(true);
  });

  it('refuses names no certificate may carry', async () => {
    const leaves = await LeafCertificates.create(ca);
    for (const bad of [
      '',
      '*.example.com',
      'a b.com',
      'x,CN=evil',
      'fe80::1%eth0',
      'a..b',
      '-a.com',
      `${'a'.repeat(64)}.com`,
    ]) {
      await expect(leaves.secureContextFor(bad), bad).rejects.toBeInstanceOf(ServerNameError);
    }
    expect(leaves.size).toBe(0);
  });

  it('exposes the CA fingerprint', async () => {
    const leaves = await LeafCertificates.create(ca);
    expect(leaves.caFingerprint256).toBe(ca.fingerprint256);
  });
});

describe('caching', () => {
  it('returns the same SecureContext for the same host', async () => {
    const leaves = await LeafCertificates.create(ca);
    const first = await leaves.secureContextFor('api.example.com');
    const second = await leaves.secureContextFor('api.example.com');
    const sameHostOtherSpelling = await leaves.secureContextFor('API.EXAMPLE.COM');
    expect(second).toBe(first);
    expect(sameHostOtherSpelling).toBe(first);
    expect(leaves.size).toBe(1);
  });

  it('mints once for 20 concurrent first requests (single flight)', async () => {
    let signatures = 0;
    const countingCa: CertificateAuthority = {
      ...ca,
      get signingKey() {
        signatures++;
        return ca.signingKey;
      },
    };
    const leaves = await LeafCertificates.create(countingCa);
    const contexts = await Promise.all(
      Array.from({ length: 20 }, () => leaves.secureContextFor('fresh.example.com')),
    );
    expect(signatures).toBe(1);
    expect(new Set(contexts).size).toBe(1);
    expect(leaves.size).toBe(1);
  });

  it('never serves an old CA’s leaf from a new CA’s instance', async () => {
    const oldLeaves = await LeafCertificates.create(ca);
    const newCa = await loadOrCreateCertificateAuthority(join(root, 'new-ca'));
    const newLeaves = await LeafCertificates.create(newCa);

    const oldCert = await leafCert(oldLeaves, 'api.example.com');
    const newCert = await leafCert(newLeaves, 'api.example.com');
    // Two installs on one machine on one day share a CA *name*; the issuing key tells them apart.
    const issuerKeyId = (cert: x509.X509Certificate) =>
      cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
    expect(issuerKeyId(newCert)).toBe(
      new x509.X509Certificate(newCa.certPem).getExtension(x509.SubjectKeyIdentifierExtension)
        ?.keyId,
    );
    expect(issuerKeyId(newCert)).not.toBe(issuerKeyId(oldCert));
    expect(
      await newCert.verify({ publicKey: new x509.X509Certificate(newCa.certPem).publicKey }),
    ).toBe(true);
    expect(await newCert.verify({ publicKey: caCert().publicKey })).toBe(false);
    expect(newLeaves.caFingerprint256).not.toBe(oldLeaves.caFingerprint256);
    expect(await oldLeaves.secureContextFor('api.example.com')).not.toBe(
      await newLeaves.secureContextFor('api.example.com'),
    );
  });

  it('re-mints within a day of expiry, not before', async () => {
    let now = Date.now();
    const leaves = await LeafCertificates.create(ca, { now: () => now });
    const first = await leaves.secureContextFor('api.example.com');

    now += 5 * DAY;
    expect(await leaves.secureContextFor('api.example.com')).toBe(first);
    now += 1 * DAY + 1;
    const renewed = await leaves.secureContextFor('api.example.com');
    expect(renewed).not.toBe(first);
    const cert = await leafCert(leaves, 'api.example.com');
    expect(cert.notAfter.getTime()).toBeGreaterThan(now + 6 * DAY);
  });

  it('honours a custom validity, renewing half-way for very short ones', async () => {
    let now = Date.now();
    const leaves = await LeafCertificates.create(ca, { validityMs: 2 * HOUR, now: () => now });
    const first = await leaves.secureContextFor('short.example.com');
    const cert = await leafCert(leaves, 'short.example.com');
    expect(cert.notAfter.getTime() - now).toBeLessThanOrEqual(2 * HOUR);
    expect(cert.notAfter.getTime() - now).toBeGreaterThan(2 * HOUR - 2000);

    now += 59 * 60_000;
    expect(await leaves.secureContextFor('short.example.com')).toBe(first);
    now += 2 * 60_000;
    expect(await leaves.secureContextFor('short.example.com')).not.toBe(first);
  });

  it('never issues a leaf that outlives the CA', async () => {
    const now = ca.notAfter.getTime() - 2 * DAY;
    const leaves = await LeafCertificates.create(ca, { now: () => now });
    const cert = await leafCert(leaves, 'late.example.com');
    expect(cert.notAfter.getTime()).toBeLessThanOrEqual(ca.notAfter.getTime());
  });

  it('says before minting when it cannot: a bad name, or a CA that has expired', async () => {
    let now = Date.now();
    const leaves = await LeafCertificates.create(ca, { now: () => now });
    expect(() => leaves.assertCanMint('api.example.com')).not.toThrow();
    expect(() => leaves.assertCanMint('bad..name')).toThrow(ServerNameError);

    now = ca.notAfter.getTime() + 1;
    expect(() => leaves.assertCanMint('api.example.com')).toThrow(/the Keygate CA expired on/);
    await expect(leaves.secureContextFor('api.example.com')).rejects.toThrow(
      /the Keygate CA expired on/,
    );
  });

  it('keeps leaves within maxBytes, dropping the least recently used (LRU)', async () => {
    const leaves = await LeafCertificates.create(ca, { maxBytes: 3.5 * LEAF_CONTEXT_BYTES });
    const first = await leaves.secureContextFor('h0.example.com');
    for (let i = 1; i <= 3; i++) await leaves.secureContextFor(`h${i}.example.com`);
    expect(leaves.size).toBe(3);
    expect(await leaves.secureContextFor('h0.example.com')).not.toBe(first);
  });

  it('stays under its byte bound whatever the number of distinct names (issue 9 §4)', async () => {
    const maxBytes = 1024 * 1024;
    const leaves = await LeafCertificates.create(ca, { maxBytes });
    let largest = 0;
    for (let i = 0; i < 300; i++) {
      // Long names too: an entry's charge grows with its name and PEM.
      const label = i % 2 === 0 ? `n${i}` : `${'x'.repeat(60)}${i}`;
      await leaves.secureContextFor(`${label}.agents.example.com`);
      largest = Math.max(largest, leaves.bytes);
    }
    expect(largest).toBeLessThanOrEqual(maxBytes);
    expect(leaves.bytes).toBeGreaterThan(maxBytes / 2);
    // Each entry is charged its context and more, so a bound of 1 MiB holds at most 25.
    expect(leaves.size).toBeLessThanOrEqual(Math.floor(maxBytes / LEAF_CONTEXT_BYTES));
    expect(leaves.size).toBeGreaterThan(10);
  });

  it('does not cache a failed mint, and recovers on the next call', async () => {
    // The first signature is attempted with the CA's *public* key, which OpenSSL refuses.
    let attempts = 0;
    const flakyCa: CertificateAuthority = {
      ...ca,
      get signingKey() {
        return attempts++ === 0 ? createPublicKey(ca.signingKey) : ca.signingKey;
      },
    };
    const leaves = await LeafCertificates.create(flakyCa);
    await expect(leaves.secureContextFor('flaky.example.com')).rejects.toThrow(
      /cannot mint a certificate for flaky\.example\.com/,
    );
    expect(leaves.size).toBe(0);
    await expect(leaves.secureContextFor('flaky.example.com')).resolves.toBeDefined();
    expect(leaves.size).toBe(1);
  });

  it('rejects bad options', async () => {
    await expect(LeafCertificates.create(ca, { validityMs: 0 })).rejects.toThrow(RangeError);
    await expect(LeafCertificates.create(ca, { maxBytes: 1000 })).rejects.toThrow(RangeError);
  });
});

describe('non-blocking minting', () => {
  it('mints 50 new hosts without stalling the event loop', async () => {
    const leaves = await LeafCertificates.create(ca);
    await leaves.secureContextFor('warm-up.example.com'); // JIT and lazy module init

    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => leaves.secureContextFor(`host-${i}.example.com`)),
    );
    const elapsed = performance.now() - started;
    // Give the histogram one more tick to record the last interval.
    await new Promise((resolve) => setTimeout(resolve, 5));
    histogram.disable();

    const maxMs = histogram.max / 1e6;
    console.log(
      `50 leaves in ${elapsed.toFixed(1)} ms; event-loop delay max ${maxMs.toFixed(2)} ms, ` +
        `p99 ${(histogram.percentile(99) / 1e6).toFixed(2)} ms`,
    );
    expect(leaves.size).toBe(51);
    expect(maxMs).toBeLessThan(50);
  });
});
