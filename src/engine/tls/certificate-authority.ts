/**
 * Keygate's local certificate authority: one per install, created on first run, then loaded.
 *
 * The CA key can mint a certificate for any host the user's machine trusts it for, so it is
 * treated like a password: PKCS#8 PEM at 0600 inside a 0700 directory (docs/decisions/0002, defect 4),
 * written with that mode from the first byte, and never silently replaced or "repaired".
 * Anything unexpected on disk is a CertificateAuthorityError that tells the user what to do.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { withFileLock, type FileLockOptions } from '../file-lock.js';
import {
  KEY_USAGE,
  authorityKeyIdentifier,
  basicConstraints,
  encodeName,
  generateEcKeyPair,
  keyIdentifierOf,
  keyUsage,
  randomSerialNumber,
  readIssuerFields,
  signCertificate,
  subjectKeyIdentifier,
  toPem,
  type IssuerFields,
} from './certificate-der.js';
import { defineError } from '../errors.js';

export interface CertificateAuthority {
  /** PEM of the CA cert. */
  readonly certPem: string;
  /** Absolute path of ca.pem on disk. */
  readonly certPath: string;
  /** SHA-256 fingerprint like `X509Certificate.fingerprint256` (`AA:BB:…`). */
  readonly fingerprint256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The encoded subject Name, copied byte for byte into every leaf as its issuer. */
  readonly subject: Buffer;
  /** The CA's subjectKeyIdentifier: every leaf's authorityKeyIdentifier. */
  readonly keyIdentifier: Buffer;
  /** Internal: signs leaves. An OpenSSL key object; inspecting it shows no key material. */
  readonly signingKey: KeyObject; // SECRET: never log
}

export class CertificateAuthorityError extends defineError('CertificateAuthorityError', {
  status: 500,
  code: 'certificate_authority',
}) {}

const CA_CERT_FILE = 'ca.pem';
const CA_KEY_FILE = 'ca-key.pem';
/** Held while one process creates the CA (file-lock.ts). */
const CA_LOCK_FILE = 'ca.lock';

const CA_VALIDITY_YEARS = 10;
/** ub-common-name (RFC 5280 Appendix A.1): a CN longer than 64 characters is malformed. */
const MAX_CN = 64;
const isWindows = process.platform === 'win32';
const HOUR_MS = 60 * 60 * 1000;

/**
 * Loads `${dir}/ca.pem` + `${dir}/ca-key.pem`, or creates both when both are absent. A key
 * without its certificate (what a kill between the two writes leaves) gets its certificate
 * issued again from that key. Refuses (CertificateAuthorityError) a certificate without its key,
 * a pair that does not match, a key readable by others, or an expired CA.
 */
export async function loadOrCreateCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  const root = resolve(dir);
  await ensurePrivateDirectory(root);
  const certPath = join(root, CA_CERT_FILE);
  const keyPath = join(root, CA_KEY_FILE);

  if ((await filesPresent(certPath, keyPath)) !== 'both') {
    // Another Keygate process (the app and `serve`, or two first commands) may be creating the
    // CA at this moment, and its key exists a moment before its certificate. Creation is
    // serialised by a lock, and the files are looked at again while holding it.
    await withFileLock(join(root, CA_LOCK_FILE), caLockOptions(root), async () => {
      const present = await filesPresent(certPath, keyPath);
      if (present === 'none') await createCertificateAuthority(certPath, keyPath);
      else if (present === 'key') await recoverCertificate(certPath, keyPath);
      else if (present !== 'both') throw incompleteError(present, certPath, keyPath);
    });
  }
  // A freshly created CA goes through the same load path: it proves the files round-trip.
  return loadCertificateAuthority(certPath, keyPath);
}

async function filesPresent(
  certPath: string,
  keyPath: string,
): Promise<'both' | 'none' | 'cert' | 'key'> {
  const [hasCert, hasKey] = await Promise.all([exists(certPath), exists(keyPath)]);
  if (hasCert && hasKey) return 'both';
  if (!hasCert && !hasKey) return 'none';
  return hasCert ? 'cert' : 'key';
}

function incompleteError(
  present: 'cert' | 'key',
  certPath: string,
  keyPath: string,
): CertificateAuthorityError {
  const [found, missing] = present === 'cert' ? [certPath, keyPath] : [keyPath, certPath];
  return new CertificateAuthorityError(
    `Keygate CA is incomplete: ${found} exists but ${missing} does not. ` +
      `Restore the missing file, or move ${found} aside to create a new CA ` +
      `(clients will then need to trust the new ${CA_CERT_FILE}).`,
  );
}

/** Creating a CA takes milliseconds; a lock held far longer was left by a process that hung. */
function caLockOptions(dir: string): FileLockOptions {
  return {
    staleMs: 30_000,
    waitMs: 20_000,
    pollMs: 20,
    error: (reason, cause) =>
      reason === 'held'
        ? new CertificateAuthorityError(
            `another Keygate process is creating the CA in ${dir} and has not finished; ` +
              `if none is running, delete ${join(dir, CA_LOCK_FILE)}`,
          )
        : new CertificateAuthorityError(`cannot lock the CA directory ${dir}`, { cause }),
  };
}

/** Creates `dir` 0700 if missing; refuses an existing one others can write to. */
async function ensurePrivateDirectory(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new CertificateAuthorityError(`cannot create the CA directory ${dir}`, {
      cause: error,
    });
  }
  const stat = await fsp.stat(dir).catch((error: unknown) => {
    throw new CertificateAuthorityError(`cannot inspect the CA directory ${dir}`, {
      cause: error,
    });
  });
  if (!stat.isDirectory()) {
    throw new CertificateAuthorityError(`CA directory ${dir} exists but is not a directory`);
  }
  // Whoever can write the directory can swap ca-key.pem for their own key. POSIX modes only.
  if (!isWindows && (stat.mode & 0o022) !== 0) {
    throw new CertificateAuthorityError(
      `CA directory ${dir} is writable by other users (mode ${formatMode(stat.mode)}); ` +
        `run: chmod 700 ${dir}`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CertificateAuthorityError(`cannot inspect ${path}`, { cause: error });
  }
}

async function createCertificateAuthority(certPath: string, keyPath: string): Promise<void> {
  const keys = await generateEcKeyPair();
  const certificate = issueCaCertificate(keys);
  const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // Key first: a kill in between leaves a lone key, which the next start completes
  // (recoverCertificate); a lone certificate could never be completed.
  await writeCaFile(keyPath, keyPem, 0o600);
  await writeCaFile(certPath, toPem(certificate), 0o644);
}

/**
 * A lone CA key: the certificate write never happened (a kill, a full disk) or ca.pem was removed.
 * The key passes the same checks as at load (0600, unencrypted PKCS#8 P-256), then a certificate
 * is issued for it. No client can trust a certificate that was never written, and one that was
 * (ca.pem deleted by hand) is replaced by one with the same key and subject, which verifies the
 * same leaves; either way nothing needs a hand fix.
 */
async function recoverCertificate(certPath: string, keyPath: string): Promise<void> {
  const privateKey = importSigningKey(await readPrivateKeyFile(keyPath), keyPath);
  const certificate = issueCaCertificate({ privateKey, publicKey: createPublicKey(privateKey) });
  await writeCaFile(certPath, toPem(certificate), 0o644);
}

/** A self-signed CA certificate for `keys`, valid from an hour ago for CA_VALIDITY_YEARS. */
function issueCaCertificate(keys: { privateKey: KeyObject; publicKey: KeyObject }): Buffer {
  const now = new Date();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);

  const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
  const keyId = keyIdentifierOf(spki);
  const name = encodeName({ commonName: caCommonName(now), organization: 'Keygate' });
  return signCertificate(
    {
      serialNumber: randomSerialNumber(),
      issuer: name,
      subject: name,
      // An hour of slack for clients whose clock runs a little behind ours.
      notBefore: new Date(now.getTime() - HOUR_MS),
      notAfter,
      subjectPublicKeyInfo: spki,
      extensions: [
        // RFC 5280 §4.2.1.9: MUST be critical in CA certs. pathLength 0: leaves only, no
        // intermediates, so a leaked leaf can never act as a CA.
        basicConstraints(true, 0),
        // RFC 5280 §4.2.1.3: keyCertSign is required to sign certificates; SHOULD be critical.
        keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign, KEY_USAGE.digitalSignature]),
        // RFC 5280 §4.2.1.2: the SKI of a CA is mandatory; §4.2.1.1: a self-signed CA's AKI,
        // when present, equals its own SKI. Python 3.13's VERIFY_X509_STRICT insists on both.
        subjectKeyIdentifier(keyId),
        authorityKeyIdentifier(keyId),
      ],
    },
    keys.privateKey,
  );
}

/** `Keygate Local CA (<hostname> <yyyy-mm-dd>)`: tells one install's CA from another's in a trust store. */
function caCommonName(now: Date): string {
  const date = now.toISOString().slice(0, 10);
  const fixed = `Keygate Local CA ( ${date})`.length;
  const host = (hostname() || 'localhost').slice(0, MAX_CN - fixed);
  return `Keygate Local CA (${host} ${date})`;
}

async function writeCaFile(path: string, data: string, mode: number): Promise<void> {
  try {
    await writeFileAtomic(path, data, mode);
  } catch (error) {
    throw new CertificateAuthorityError(`cannot write ${path}`, { cause: error });
  }
}

async function loadCertificateAuthority(
  certPath: string,
  keyPath: string,
): Promise<CertificateAuthority> {
  const keyPem = await readPrivateKeyFile(keyPath);
  let certPem: string;
  try {
    certPem = await fsp.readFile(certPath, 'utf8');
  } catch (error) {
    throw new CertificateAuthorityError(`cannot read ${certPath}`, { cause: error });
  }

  let certificate: X509Certificate;
  let fields: IssuerFields;
  try {
    certificate = new X509Certificate(certPem);
    fields = readIssuerFields(certificate.raw);
  } catch (error) {
    throw new CertificateAuthorityError(`${certPath} is not a PEM X.509 certificate`, {
      cause: error,
    });
  }

  if (!certificate.ca) {
    throw new CertificateAuthorityError(
      `${certPath} is not a CA certificate (basicConstraints cA is not set)`,
    );
  }
  if (fields.notAfter.getTime() <= Date.now()) {
    throw new CertificateAuthorityError(
      `Keygate CA ${certPath} expired on ${fields.notAfter.toISOString()}. Move ` +
        `${CA_CERT_FILE} and ${CA_KEY_FILE} aside to create a new CA, then trust the new one.`,
    );
  }

  const signingKey = importSigningKey(keyPem, keyPath);
  if (!certificate.checkPrivateKey(signingKey)) {
    throw new CertificateAuthorityError(
      `${keyPath} is not the private key of ${certPath}. Restore the matching pair, or move ` +
        `both aside to create a new CA.`,
    );
  }

  return {
    certPem,
    certPath,
    fingerprint256: certificate.fingerprint256,
    notBefore: fields.notBefore,
    notAfter: fields.notAfter,
    subject: fields.subject,
    // A CA without SKI (not one of ours): derive it the RFC 5280 §4.2.1.2 (1) way.
    keyIdentifier:
      fields.subjectKeyIdentifier ??
      keyIdentifierOf(certificate.publicKey.export({ type: 'spki', format: 'der' })),
    signingKey,
  };
}

/** Reads the key through one file handle, so the mode we check is the file we read. */
async function readPrivateKeyFile(keyPath: string): Promise<string> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(keyPath, fsConstants.O_RDONLY);
  } catch (error) {
    throw new CertificateAuthorityError(`cannot open ${keyPath}`, { cause: error });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new CertificateAuthorityError(`${keyPath} is not a regular file`);
    }
    if (!isWindows && (stat.mode & 0o077) !== 0) {
      throw new CertificateAuthorityError(
        `Keygate CA key ${keyPath} is accessible by other users (mode ${formatMode(stat.mode)}); ` +
          `Keygate will not use it. Run: chmod 600 ${keyPath}`,
      );
    }
    return await handle.readFile('utf8');
  } catch (error) {
    if (error instanceof CertificateAuthorityError) throw error;
    throw new CertificateAuthorityError(`cannot read ${keyPath}`, { cause: error });
  } finally {
    await handle.close();
  }
}

function importSigningKey(keyPem: string, keyPath: string): KeyObject {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(keyPem)?.[1];
  if (label === undefined) throw new CertificateAuthorityError(`${keyPath} is not a PEM file`);
  if (label !== 'PRIVATE KEY') {
    throw new CertificateAuthorityError(
      `${keyPath} must hold an unencrypted PKCS#8 key ("BEGIN PRIVATE KEY"), found "BEGIN ${label}"`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem' });
  } catch (error) {
    throw new CertificateAuthorityError(`${keyPath} is not an ECDSA P-256 PKCS#8 key`, {
      cause: error,
    });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CertificateAuthorityError(`${keyPath} is not an ECDSA P-256 PKCS#8 key`);
  }
  return key;
}

function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
