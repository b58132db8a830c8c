/**
 * Per-host leaf certificates for the MITM side, minted on demand and kept in memory.
 *
 * Replaces http-mitm-proxy's minting (DESIGN.md defect 3): blocking RSA keygen per host,
 * 1-year leaves, no AKI. Here every leaf shares ONE ECDSA P-256 key generated once, so a new
 * host costs a single async ECDSA signature (libuv thread pool), not a key generation, and
 * the event loop keeps serving other connections meanwhile.
 *
 * The cache lives in the instance: a new CA means a new LeafCertificates, so a leaf signed by
 * an old CA can never be served again (defect 4).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createSecureContext, type SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { CertificateAuthority } from './certificate-authority.js';
import { parseServerName, type ServerName } from './server-name.js';
import {
  DAY_MS,
  ECDSA_SHA256,
  HOUR_MS,
  exportPrivateKeyPem,
  generateEcKeyPair,
  randomSerialNumber,
  x509,
} from './x509-runtime.js';

export interface LeafOptions {
  /** Default 7 days: short enough that a copied leaf is soon worthless. */
  validityMs?: number;
  /** Default 1000 hosts. */
  cacheSize?: number;
  /** Clock, for tests of expiry and renewal. */
  now?: () => number;
}

export class LeafCertificateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LeafCertificateError';
  }
}

interface Leaf {
  readonly certPem: string;
  readonly context: SecureContext;
  readonly notAfter: number;
  /** When to mint a successor: a day before expiry (less for very short validities). */
  readonly renewAt: number;
}

const DEFAULT_VALIDITY_MS = 7 * DAY_MS;
const DEFAULT_CACHE_SIZE = 1000;
/** ub-common-name (RFC 5280 Appendix A.1). The SAN carries the full name; CN is cosmetic. */
const MAX_CN = 64;

export class LeafCertificates {
  readonly caFingerprint256: string;

  readonly #ca: CertificateAuthority;
  readonly #keyPem: string;
  readonly #publicKey: x509.PublicKey;
  /** Identical in every leaf, so built once. */
  readonly #fixedExtensions: readonly x509.Extension[];
  readonly #validityMs: number;
  readonly #now: () => number;
  readonly #cache: LRUCache<string, Leaf>;
  /** Single flight: concurrent first requests for one host share one mint. */
  readonly #inflight = new Map<string, Promise<Leaf>>();
  /** Tail of the mint queue: mints for different hosts run one after another. */
  #mintQueue: Promise<unknown> = Promise.resolve();

  private constructor(
    ca: CertificateAuthority,
    keyPem: string,
    publicKey: x509.PublicKey,
    fixedExtensions: readonly x509.Extension[],
    validityMs: number,
    cacheSize: number,
    now: () => number,
  ) {
    this.#ca = ca;
    this.caFingerprint256 = ca.fingerprint256;
    this.#keyPem = keyPem;
    this.#publicKey = publicKey;
    this.#fixedExtensions = fixedExtensions;
    this.#validityMs = validityMs;
    this.#now = now;
    this.#cache = new LRUCache<string, Leaf>({ max: cacheSize });
  }

  /** Generates the one shared leaf key (async WebCrypto) and the fixed extensions. */
  static async create(
    ca: CertificateAuthority,
    options: LeafOptions = {},
  ): Promise<LeafCertificates> {
    const validityMs = options.validityMs ?? DEFAULT_VALIDITY_MS;
    const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    if (!Number.isFinite(validityMs) || validityMs <= 0) {
      throw new RangeError(`validityMs must be a positive number, got ${validityMs}`);
    }
    if (!Number.isInteger(cacheSize) || cacheSize < 1) {
      throw new RangeError(`cacheSize must be a positive integer, got ${cacheSize}`);
    }

    const keys = await generateEcKeyPair(true);
    const keyPem = await exportPrivateKeyPem(keys.privateKey);
    const publicKey = await x509.PublicKey.create(keys.publicKey);
    const fixedExtensions: x509.Extension[] = [
      // RFC 5280 §4.2.1.9: an end-entity cert must not be usable as a CA. Critical, because
      // Python 3.13 (VERIFY_X509_STRICT) and OpenSSL -x509_strict want it that way.
      new x509.BasicConstraintsExtension(false, undefined, true),
      // RFC 5280 §4.2.1.3 + RFC 8446 §4.4.2.4: an ECDSA server key only signs the handshake.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      // RFC 5280 §4.2.1.12: TLS server only.
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      // RFC 5280 §4.2.1.2: SHOULD be present in end-entity certs.
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      // RFC 5280 §4.2.1.1: MUST be present (except self-signed) and is how strict verifiers
      // pick the issuing key. Use the CA's own SKI so the two always agree.
      await authorityKeyIdentifierFor(ca.certificate),
    ];

    return new LeafCertificates(
      ca,
      keyPem,
      publicKey,
      fixedExtensions,
      validityMs,
      cacheSize,
      options.now ?? Date.now,
    );
  }

  /**
   * Cached, minted on first use; concurrent calls for one host share one mint. Re-minted
   * within a day of expiry. Throws ServerNameError for a name no certificate can carry.
   */
  async secureContextFor(hostname: string): Promise<SecureContext> {
    return (await this.#leafFor(hostname)).context;
  }

  /** The same leaf as PEM, for tests and `openssl verify`. */
  async pemFor(hostname: string): Promise<{ certPem: string; keyPem: string }> {
    const leaf = await this.#leafFor(hostname);
    return { certPem: leaf.certPem, keyPem: this.#keyPem };
  }

  /** Cached leaves. */
  get size(): number {
    return this.#cache.size;
  }

  async #leafFor(hostname: string): Promise<Leaf> {
    const name = parseServerName(hostname);
    const cached = this.#cache.get(name.value);
    if (cached && this.#now() < cached.renewAt) return cached;

    let pending = this.#inflight.get(name.value);
    if (!pending) {
      pending = this.#enqueueMint(name)
        .then((leaf) => {
          this.#cache.set(name.value, leaf);
          return leaf;
        })
        .finally(() => this.#inflight.delete(name.value));
      this.#inflight.set(name.value, pending);
    }
    try {
      return await pending;
    } catch (error) {
      // A failed renewal must not take down a host whose current leaf is still valid.
      if (cached && this.#now() < cached.notAfter) return cached;
      throw error;
    }
  }

  /**
   * Runs mints one at a time, each starting on a fresh event-loop turn. The signature itself
   * runs off-thread, but building and parsing a certificate and its SecureContext is ~2-3 ms
   * of synchronous JS. Fifty hosts arriving at once would otherwise run those slices
   * back-to-back and stall every open connection for 100+ ms; queued, the loop gets a turn
   * between each, and total throughput is unchanged (the JS was serial anyway).
   */
  #enqueueMint(name: ServerName): Promise<Leaf> {
    const minted = this.#mintQueue.then(async () => {
      await nextTurn();
      return this.#mint(name);
    });
    // The queue only orders work; each caller sees its own mint's outcome.
    this.#mintQueue = minted.catch(() => undefined);
    return minted;
  }

  async #mint(name: ServerName): Promise<Leaf> {
    const now = this.#now();
    const caNotAfter = this.#ca.notAfter.getTime();
    if (caNotAfter <= now) {
      throw new LeafCertificateError(
        `cannot mint a certificate for ${name.value}: the Keygate CA expired on ` +
          `${this.#ca.notAfter.toISOString()}`,
      );
    }
    // A leaf outliving its issuer would only fail path validation (RFC 5280 §6.1.3 (a)(2)).
    const notAfter = Math.min(now + this.#validityMs, caNotAfter);

    let certPem: string;
    try {
      const certificate = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerialNumber(),
        subject: [{ CN: [name.value.slice(0, MAX_CN)] }],
        // Byte-for-byte the CA's subject (RFC 5280 §4.1.2.4), or chain building fails.
        issuer: this.#ca.certificate.subjectName,
        // An hour of slack for clients whose clock runs a little behind ours.
        notBefore: new Date(now - HOUR_MS),
        notAfter: new Date(notAfter),
        publicKey: this.#publicKey,
        signingKey: this.#ca.signingKey,
        signingAlgorithm: ECDSA_SHA256,
        extensions: [
          ...this.#fixedExtensions,
          // RFC 6125 §6.4.4 / RFC 9110 §4.3.4: clients match the SAN, never the CN, when a
          // SAN is present; an IP literal only matches an iPAddress entry.
          new x509.SubjectAlternativeNameExtension([{ type: name.kind, value: name.value }]),
        ],
      });
      certPem = certificate.toString('pem');
    } catch (error) {
      throw new LeafCertificateError(`cannot mint a certificate for ${name.value}`, {
        cause: error,
      });
    }

    // Building the context (parsing key and cert into OpenSSL) is the other big synchronous
    // slice; give the loop a turn between the two.
    await nextTurn();
    let context: SecureContext;
    try {
      // Leaf only: clients hold the CA, and sending it would just cost bytes per handshake.
      context = createSecureContext({ key: this.#keyPem, cert: certPem, minVersion: 'TLSv1.2' });
    } catch (error) {
      throw new LeafCertificateError(`cannot build a TLS context for ${name.value}`, {
        cause: error,
      });
    }
    // Renew a day early so a client never receives a leaf about to lapse mid-session; for
    // validities under two days, halfway through.
    const renewAt = notAfter - Math.min(DAY_MS, (notAfter - now) / 2);
    return { certPem, context, notAfter, renewAt };
  }
}

async function authorityKeyIdentifierFor(
  caCertificate: x509.X509Certificate,
): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = caCertificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
  // A CA without SKI (not one of ours): derive it the RFC 5280 §4.2.1.2 (1) way.
  return x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey);
}
