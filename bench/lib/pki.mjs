/**
 * The bench's upstream PKI: a throwaway CA and one leaf for every name the bench dials. Minted
 * with Keygate's own certificate encoder (dist/), and deliberately not Keygate's CA: every proxy
 * must verify the upstream against a CA it is given.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  KEY_USAGE,
  authorityKeyIdentifier,
  basicConstraints,
  encodeName,
  generateEcKeyPair,
  keyIdentifierOf,
  keyUsage,
  randomSerialNumber,
  serverAuthOnly,
  signCertificate,
  subjectAltName,
  subjectKeyIdentifier,
  toPem,
} from '../../dist/engine/tls/certificate-der.js';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/** DNS names and IPs in the upstream leaf. Everything resolves to (or is routed to) 127.0.0.1. */
export const UPSTREAM_NAMES = [
  { kind: 'dns', value: '*.bench.test' },
  { kind: 'dns', value: '*.stampede.test' },
  { kind: 'dns', value: 'localhost' },
  { kind: 'ip', value: '127.0.0.1' },
];

/** Writes ca.pem, upstream.pem and upstream-key.pem into `dir`; returns their paths and PEMs. */
export async function createBenchPki(dir) {
  const now = Date.now();
  const caKeys = await generateEcKeyPair();
  const caSpki = caKeys.publicKey.export({ type: 'spki', format: 'der' });
  const caKeyId = keyIdentifierOf(caSpki);
  const caName = encodeName({
    commonName: 'Keygate Bench Upstream CA',
    organization: 'Keygate Bench',
  });
  const ca = signCertificate(
    {
      serialNumber: randomSerialNumber(),
      issuer: caName,
      subject: caName,
      notBefore: new Date(now - HOUR_MS),
      notAfter: new Date(now + 2 * DAY_MS),
      subjectPublicKeyInfo: caSpki,
      extensions: [
        basicConstraints(true, 0),
        keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]),
        subjectKeyIdentifier(caKeyId),
        authorityKeyIdentifier(caKeyId),
      ],
    },
    caKeys.privateKey,
  );
  const leafKeys = await generateEcKeyPair();
  const leafSpki = leafKeys.publicKey.export({ type: 'spki', format: 'der' });
  const leaf = signCertificate(
    {
      serialNumber: randomSerialNumber(),
      issuer: caName,
      subject: encodeName({ commonName: 'upstream.bench.test' }),
      notBefore: new Date(now - HOUR_MS),
      notAfter: new Date(now + DAY_MS),
      subjectPublicKeyInfo: leafSpki,
      extensions: [
        basicConstraints(false),
        keyUsage([KEY_USAGE.digitalSignature]),
        serverAuthOnly(),
        subjectKeyIdentifier(keyIdentifierOf(leafSpki)),
        authorityKeyIdentifier(caKeyId),
        subjectAltName(UPSTREAM_NAMES),
      ],
    },
    caKeys.privateKey,
  );
  const caPem = toPem(ca);
  const certPem = toPem(leaf);
  const keyPem = leafKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
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
