/**
 * The bench's upstream PKI: a throwaway CA and one leaf for every name the bench dials. Minted
 * with Keygate's own x509 runtime (dist/), the same way test/helpers/test-pki.ts does, and
 * deliberately not Keygate's CA: every proxy must verify the upstream against a CA it is given.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DAY_MS,
  ECDSA_SHA256,
  HOUR_MS,
  exportPrivateKeyPem,
  generateEcKeyPair,
  randomSerialNumber,
  x509,
} from '../../dist/engine/tls/x509-runtime.js';

/** DNS names and IPs in the upstream leaf. Everything resolves to (or is routed to) 127.0.0.1. */
export const UPSTREAM_NAMES = [
  { type: 'dns', value: '*.bench.test' },
  { type: 'dns', value: '*.stampede.test' },
  { type: 'dns', value: 'localhost' },
  { type: 'ip', value: '127.0.0.1' },
];

/** Writes ca.pem, upstream.pem and upstream-key.pem into `dir`; returns their paths and PEMs. */
export async function createBenchPki(dir) {
  const caKeys = await generateEcKeyPair(false);
  const ski = await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: [{ CN: ['Keygate Bench Upstream CA'] }, { O: ['Keygate Bench'] }],
    notBefore: new Date(now - HOUR_MS),
    notAfter: new Date(now + 2 * DAY_MS),
    keys: caKeys,
    signingAlgorithm: ECDSA_SHA256,
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
  const leafKeys = await generateEcKeyPair(true);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{ CN: ['upstream.bench.test'] }],
    issuer: ca.subjectName,
    notBefore: new Date(now - HOUR_MS),
    notAfter: new Date(now + DAY_MS),
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
      new x509.SubjectAlternativeNameExtension(UPSTREAM_NAMES),
    ],
  });
  const caPem = ca.toString('pem') + '\n';
  const certPem = leaf.toString('pem') + '\n';
  const keyPem = await exportPrivateKeyPem(leafKeys.privateKey);
  const paths = {
    caPath: join(dir, 'ca.pem'),
    certPath: join(dir, 'upstream.pem'),
    keyPath: join(dir, 'upstream-key.pem'),
  };
  writeFileSync(paths.caPath, caPem);
  writeFileSync(paths.certPath, certPem);
  writeFileSync(paths.keyPath, keyPem, { mode: 0o600 });
  return { ...paths, caPem, certPem, keyPem };
}
