/**
 * The tests' way to @peculiar/x509: loaded once, wired to Node's WebCrypto. Keygate itself writes
 * certificates with its own DER encoder (src/engine/tls/certificate-der.ts); the test PKI and the
 * assertions on Keygate's certificates use this independent library, so each checks the other.
 */
// x509 v2 resolves its providers through tsyringe, which needs a Reflect metadata polyfill
// loaded first (tsyringe README).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';

// x509 defaults to `globalThis.crypto`; set Node's explicitly so it never depends on globals.
// (Node's `webcrypto` type and the DOM `Crypto` type x509 declares are structurally the same API.)
x509.cryptoProvider.set(webcrypto as unknown as ReturnType<typeof x509.cryptoProvider.get>);

export { x509 };

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** ECDSA P-256: small certificates, fast async key generation and signing, universally accepted. */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** ecdsa-with-SHA256 (RFC 5758 §3.2), the signature every certificate here carries. */
export const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

export const HOUR_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * HOUR_MS;

/**
 * A random serial as hex. RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets, unique
 * per issuer. 16 random bytes with the top bit cleared (positive, so no 0x00 sign pad) and the
 * next bit set (so DER never drops a leading zero byte): always exactly 16 octets, 126 random bits.
 */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** Async (libuv thread pool) key generation: never blocks the event loop. */
export async function generateEcKeyPair(extractable: boolean): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256, extractable, ['sign', 'verify']);
}

/** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the form both Node's TLS and OpenSSL read. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}
