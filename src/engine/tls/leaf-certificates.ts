/**
 * Per-host leaf certificates for the MITM side, minted on demand and kept in memory.
 *
 * Replaces http-mitm-proxy's minting (docs/decisions/0002, defect 3): blocking RSA keygen per host,
 * 1-year leaves, no AKI. Here every leaf shares ONE ECDSA P-256 key generated once, and
 * everything but the serial, dates and names is encoded once, so a new host costs one ECDSA
 * signature (~50 µs) and one TLS context (~0.3-1 ms), not a key generation
 * (docs/decisions/0006-certificates-without-a-library.md).
 *
 * The cache lives in the instance: a new CA means a new LeafCertificates, so a leaf signed by
 * an old CA can never be served again (defect 4).
 *
 * The cache is bounded by bytes, not by count (issue 9: an agent naming thousands of hosts under a
 * wildcard mapping held ~520 MB). What a leaf costs is mostly the OpenSSL SSL_CTX behind its
 * SecureContext, which V8 does not see: measured on Linux, Node 20, OpenSSL 3, a fresh context
 * adds ~28 KB of RSS and one that has served a handshake ~45 KB (with its TLS socket's garbage).
 * LEAF_CONTEXT_BYTES is that, and each entry is charged it plus its PEM and name.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createSecureContext, type SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { CertificateAuthority } from './certificate-authority.js';
import { parseServerName, type ServerName } from './server-name.js';
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
} from './certificate-der.js';
import { defineError } from '../errors.js';

export interface LeafOptions {
  /** Default 7 days: short enough that a copied leaf is soon worthless. */
  validityMs?: number;
  /** Bytes of leaves kept (see LEAF_CONTEXT_BYTES); default 40 MiB, about 1,000 hosts. */
  maxBytes?: number;
  /** Clock, for tests of expiry and renewal. */
  now?: () => number;
}

export class LeafCertificateError extends defineError('LeafCertificateError', {
  status: 500,
  code: 'leaf_certificate',
}) {}

interface Leaf {
  readonly name: string;
  readonly certPem: string;
  readonly context: SecureContext;
  readonly notAfter: number;
  /** When to mint a successor: a day before expiry (less for very short validities). */
  readonly renewAt: number;
}

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const DEFAULT_VALIDITY_MS = 7 * DAY_MS;
/** The memory one cached leaf's SecureContext holds, measured (see the header). */
export const LEAF_CONTEXT_BYTES = 40 * 1024;
const DEFAULT_MAX_BYTES = 40 * 1024 * 1024;
/** ub-common-name (RFC 5280 Appendix A.1). The SAN carries the full name; CN is cosmetic. */
const MAX_CN = 64;

export class LeafCertificates {
  readonly caFingerprint256: string;

  readonly #ca: CertificateAuthority;
  readonly #keyPem: string; // SECRET: never log (the key every leaf shares)
  readonly #subjectPublicKeyInfo: Buffer;
  /** Identical in every leaf, so encoded once. */
  readonly #fixedExtensions: readonly Buffer[];
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
    subjectPublicKeyInfo: Buffer,
    fixedExtensions: readonly Buffer[],
    validityMs: number,
    maxBytes: number,
    now: () => number,
  ) {
    this.#ca = ca;
    this.caFingerprint256 = ca.fingerprint256;
    this.#keyPem = keyPem;
    this.#subjectPublicKeyInfo = subjectPublicKeyInfo;
    this.#fixedExtensions = fixedExtensions;
    this.#validityMs = validityMs;
    this.#now = now;
    this.#cache = new LRUCache<string, Leaf>({
      maxSize: maxBytes,
      sizeCalculation: leafBytes,
    });
  }

  /** Generates the one shared leaf key (off the event loop) and encodes the fixed extensions. */
  static async create(
    ca: CertificateAuthority,
    options: LeafOptions = {},
  ): Promise<LeafCertificates> {
    const validityMs = options.validityMs ?? DEFAULT_VALIDITY_MS;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (!Number.isFinite(validityMs) || validityMs <= 0) {
      throw new RangeError(`validityMs must be a positive number, got ${validityMs}`);
    }
    if (!Number.isInteger(maxBytes) || maxBytes < LEAF_CONTEXT_BYTES) {
      throw new RangeError(
        `maxBytes must be an integer of at least ${LEAF_CONTEXT_BYTES} (one leaf), got ${maxBytes}`,
      );
    }

    const keys = await generateEcKeyPair();
    const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
    const fixedExtensions = [
      // RFC 5280 §4.2.1.9: an end-entity cert must not be usable as a CA. Critical, because
      // Python 3.13 (VERIFY_X509_STRICT) and OpenSSL -x509_strict want it that way.
      basicConstraints(false),
      // RFC 5280 §4.2.1.3 + RFC 8446 §4.4.2.4: an ECDSA server key only signs the handshake.
      keyUsage([KEY_USAGE.digitalSignature]),
      // RFC 5280 §4.2.1.12: TLS server only.
      serverAuthOnly(),
      // RFC 5280 §4.2.1.2: SHOULD be present in end-entity certs.
      subjectKeyIdentifier(keyIdentifierOf(spki)),
      // RFC 5280 §4.2.1.1: MUST be present (except self-signed) and is how strict verifiers
      // pick the issuing key. The CA's own SKI, so the two always agree.
      authorityKeyIdentifier(ca.keyIdentifier),
    ];

    return new LeafCertificates(
      ca,
      keyPem,
      spki,
      fixedExtensions,
      validityMs,
      maxBytes,
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

  /**
   * Throws what a mint for `hostname` would throw that is knowable without minting: a name no
   * certificate can carry (ServerNameError), or an expired CA (LeafCertificateError).
   */
  assertCanMint(hostname: string): void {
    this.#assertCaValid(parseServerName(hostname), this.#now());
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

  /** What the cached leaves are estimated to hold, in bytes (never more than `maxBytes`). */
  get bytes(): number {
    return this.#cache.calculatedSize;
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
   * Runs mints one at a time, each starting on a fresh event-loop turn. A mint is synchronous
   * (~0.5-1.5 ms, most of it OpenSSL building the SecureContext); fifty hosts arriving at once
   * would otherwise run back-to-back and stall every open connection for tens of ms. Queued,
   * the loop gets a turn between each, and total throughput is unchanged.
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

  #assertCaValid(name: ServerName, now: number): void {
    if (this.#ca.notAfter.getTime() <= now) {
      throw new LeafCertificateError(
        `cannot mint a certificate for ${name.value}: the Keygate CA expired on ` +
          `${this.#ca.notAfter.toISOString()}`,
      );
    }
  }

  #mint(name: ServerName): Leaf {
    const now = this.#now();
    this.#assertCaValid(name, now);
    // A leaf outliving its issuer would only fail path validation (RFC 5280 §6.1.3 (a)(2)).
    const notAfter = Math.min(now + this.#validityMs, this.#ca.notAfter.getTime());

    let certPem: string;
    try {
      const certificate = signCertificate(
        {
          serialNumber: randomSerialNumber(),
          // Byte-for-byte the CA's subject (RFC 5280 §4.1.2.4), or chain building fails.
          issuer: this.#ca.subject,
          subject: encodeName({ commonName: name.value.slice(0, MAX_CN) }),
          // An hour of slack for clients whose clock runs a little behind ours.
          notBefore: new Date(now - HOUR_MS),
          notAfter: new Date(notAfter),
          subjectPublicKeyInfo: this.#subjectPublicKeyInfo,
          extensions: [
            ...this.#fixedExtensions,
            // RFC 6125 §6.4.4 / RFC 9110 §4.3.4: clients match the SAN, never the CN, when a
            // SAN is present; an IP literal only matches an iPAddress entry.
            subjectAltName([name]),
          ],
        },
        this.#ca.signingKey,
      );
      certPem = toPem(certificate);
    } catch (error) {
      throw new LeafCertificateError(`cannot mint a certificate for ${name.value}`, {
        cause: error,
      });
    }

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
    return { name: name.value, certPem, context, notAfter, renewAt };
  }
}

/** A leaf's charge against `maxBytes`: its context, and its strings (UTF-16 at worst). */
function leafBytes(leaf: Leaf): number {
  return LEAF_CONTEXT_BYTES + 2 * (leaf.certPem.length + leaf.name.length);
}
