/**
 * X.509 v3 certificates as DER (RFC 5280 §4.1): the fields and extensions Keygate's CA and leaves
 * carry, signed ecdsa-with-SHA256 by node:crypto; and the few fields read back from a CA loaded
 * from disk. Only what Keygate issues is supported, on purpose: P-256 keys, one signature
 * algorithm, a fixed set of extensions. The test PKI uses @peculiar/x509 instead, so the two
 * check each other.
 */
import { createHash, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import {
  DerError,
  TAG,
  bitString,
  boolean,
  childrenOf,
  contentOf,
  encodedOf,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  readElement,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
  type DerElement,
} from './der.js';

const OID = {
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

const generateKeyPairAsync = promisify(generateKeyPair);

/** ECDSA P-256, generated off the event loop (libuv thread pool). */
export async function generateEcKeyPair(): Promise<{
  publicKey: KeyObject;
  privateKey: KeyObject;
}> {
  return generateKeyPairAsync('ec', { namedCurve: 'P-256' });
}

/**
 * A random serial. RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets, unique per
 * issuer. 16 random bytes with the top bit cleared (positive, so no 0x00 sign pad) and the next
 * bit set (so DER never drops a leading zero byte): always 16 octets, 126 random bits.
 */
export function randomSerialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes;
}

/** RFC 5758 §3.2: ecdsa-with-SHA256 with the parameters field absent, not NULL. */
const ECDSA_WITH_SHA256 = sequence(oid(OID.ecdsaWithSha256));

export interface CertificateFields {
  /** Positive, at most 20 octets (RFC 5280 §4.1.2.2). */
  readonly serialNumber: Buffer;
  /** An encoded Name; for a leaf, the CA's subject byte for byte (RFC 5280 §4.1.2.4). */
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo DER, as `KeyObject.export({ type: 'spki', format: 'der' })` gives it. */
  readonly subjectPublicKeyInfo: Buffer;
  /** Encoded Extension values, from the builders below. */
  readonly extensions: readonly Buffer[];
}

/** Encodes the TBSCertificate, signs it with `issuerKey` (EC P-256) and returns the DER. */
export function signCertificate(fields: CertificateFields, issuerKey: KeyObject): Buffer {
  const tbsCertificate = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(fields.serialNumber),
    ECDSA_WITH_SHA256,
    fields.issuer,
    sequence(time(fields.notBefore), time(fields.notAfter)),
    fields.subject,
    fields.subjectPublicKeyInfo,
    explicit(3, sequence(...fields.extensions)),
  );
  // node:crypto's default dsaEncoding is 'der': the Ecdsa-Sig-Value SEQUENCE X.509 wants.
  const signature = sign('sha256', tbsCertificate, issuerKey);
  return sequence(tbsCertificate, ECDSA_WITH_SHA256, bitString(signature));
}

/** A Name of one CN and, optionally, one O; UTF8String, as RFC 5280 §4.1.2.6 asks of new certs. */
export function encodeName(name: { commonName: string; organization?: string }): Buffer {
  const attribute = (type: string, value: string) => set(sequence(oid(type), utf8String(value)));
  return sequence(
    attribute(OID.commonName, name.commonName),
    ...(name.organization === undefined
      ? []
      : [attribute(OID.organizationName, name.organization)]),
  );
}

/** X.690 §11.5: a DEFAULT FALSE `critical` is left out rather than encoded as FALSE. */
function extension(type: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(type), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** RFC 5280 §4.2.1.9, always critical here: strict verifiers want it so in both CA and leaf. */
export function basicConstraints(ca: boolean, pathLength?: number): Buffer {
  return extension(
    OID.basicConstraints,
    true,
    sequence(
      ...(ca ? [boolean(true)] : []),
      ...(pathLength === undefined ? [] : [smallInteger(pathLength)]),
    ),
  );
}

/** RFC 5280 §4.2.1.3 bit positions. */
export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** Critical (RFC 5280 §4.2.1.3 SHOULD). A named BIT STRING drops trailing zero bits (X.690 §11.2.2). */
export function keyUsage(bits: readonly number[]): Buffer {
  let byte = 0;
  for (const bit of bits) byte |= 0x80 >> bit;
  let unused = 0;
  while (unused < 7 && (byte & (1 << unused)) === 0) unused++;
  return extension(OID.keyUsage, true, bitString(Buffer.from([byte]), unused));
}

/** RFC 5280 §4.2.1.12: TLS server authentication only. */
export function serverAuthOnly(): Buffer {
  return extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth)));
}

export function subjectKeyIdentifier(keyId: Buffer): Buffer {
  return extension(OID.subjectKeyIdentifier, false, octetString(keyId));
}

/** RFC 5280 §4.2.1.1: the keyIdentifier form, `[0] IMPLICIT KeyIdentifier`. */
export function authorityKeyIdentifier(keyId: Buffer): Buffer {
  return extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, keyId)));
}

/**
 * RFC 5280 §4.2.1.6: `dNSName [2] IA5String`, `iPAddress [7] OCTET STRING` (4 or 16 bytes).
 * Values come from parseServerName or the bench's own PKI, so they are already canonical.
 */
export function subjectAltName(
  names: readonly { readonly kind: 'dns' | 'ip'; readonly value: string }[],
): Buffer {
  return extension(
    OID.subjectAltName,
    false,
    sequence(
      ...names.map((name) =>
        name.kind === 'dns'
          ? implicitPrimitive(2, Buffer.from(name.value, 'ascii'))
          : implicitPrimitive(7, ipAddressBytes(name.value)),
      ),
    ),
  );
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function keyIdentifierOf(subjectPublicKeyInfo: Buffer): Buffer {
  const spki = readElement(subjectPublicKeyInfo, 0);
  const publicKey = childrenOf(subjectPublicKeyInfo, spki)[1];
  if (publicKey?.tag !== TAG.bitString) throw new DerError('SubjectPublicKeyInfo has no key');
  // The first content byte counts unused bits (always 0 for a key), not key material.
  const bits = contentOf(subjectPublicKeyInfo, publicKey).subarray(1);
  return createHash('sha1').update(bits).digest();
}

export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** What the leaf minter needs of a CA certificate read from disk. */
export interface IssuerFields {
  /** The encoded subject Name, to be copied as the leaves' issuer. */
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subjectKeyIdentifier extension's value, when the certificate has one. */
  readonly subjectKeyIdentifier: Buffer | undefined;
}

/** Reads the issuer-side fields out of a DER certificate; DerError when it is not one. */
export function readIssuerFields(certificate: Buffer): IssuerFields {
  const root = readElement(certificate, 0);
  const [tbs] = childrenOf(certificate, expectTag(root, TAG.sequence, 'Certificate'));
  const fields = childrenOf(certificate, expectTag(tbs, TAG.sequence, 'TBSCertificate'));
  // version [0] is optional (absent means v1), and every later field shifts with it.
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const validity = expectTag(fields[offset + 3], TAG.sequence, 'Validity');
  const subject = expectTag(fields[offset + 4], TAG.sequence, 'subject');
  const [notBefore, notAfter] = childrenOf(certificate, validity);
  const extensionsWrapper = fields.find((field) => field.tag === 0xa3);
  let subjectKeyId: Buffer | undefined;
  if (extensionsWrapper) {
    const [list] = childrenOf(certificate, extensionsWrapper);
    for (const ext of childrenOf(certificate, expectTag(list, TAG.sequence, 'Extensions'))) {
      const parts = childrenOf(certificate, ext);
      const value = parts[parts.length - 1];
      if (!parts[0] || !value || !encodedOf(certificate, parts[0]).equals(SKI_OID)) continue;
      const inner = contentOf(certificate, value);
      subjectKeyId = Buffer.from(
        contentOf(inner, expectTag(readElement(inner, 0), TAG.octetString, 'keyIdentifier')),
      );
    }
  }
  return {
    subject: Buffer.from(encodedOf(certificate, subject)),
    notBefore: readTime(certificate, notBefore),
    notAfter: readTime(certificate, notAfter),
    subjectKeyIdentifier: subjectKeyId,
  };
}

const SKI_OID = oid(OID.subjectKeyIdentifier);

function expectTag(element: DerElement | undefined, tag: number, what: string): DerElement {
  if (element?.tag !== tag) throw new DerError(`${what} is missing or malformed`);
  return element;
}

function readTime(buffer: Buffer, element: DerElement | undefined): Date {
  if (element?.tag !== TAG.utcTime && element?.tag !== TAG.generalizedTime) {
    throw new DerError('Validity time is missing or malformed');
  }
  const text = contentOf(buffer, element).toString('ascii');
  const match = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) throw new DerError(`unsupported time ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // RFC 5280 §4.1.2.5.1: a two-digit year below 50 is 20YY, otherwise 19YY.
  const year = element.tag === TAG.utcTime ? (y < 50 ? 2000 + y : 1900 + y) : y;
  return new Date(Date.UTC(year, mo - 1, d, h, mi, s));
}

/** 4 bytes for IPv4; 16 for IPv6 in hex groups with at most one `::` (canonicalIpv6's form). */
export function ipAddressBytes(address: string): Buffer {
  if (!address.includes(':')) {
    const octets = address.split('.').map(Number);
    if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
      throw new DerError(`not an IPv4 address: ${address}`);
    }
    return Buffer.from(octets);
  }
  const [head = '', tail, ...more] = address.split('::');
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groupsOf(head);
  const right = tail === undefined ? [] : groupsOf(tail);
  const missing = 8 - left.length - right.length;
  if (more.length > 0 || (tail === undefined ? missing !== 0 : missing < 1)) {
    throw new DerError(`not an IPv6 address: ${address}`);
  }
  const groups = [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) throw new DerError(`not an IPv6 address: ${address}`);
    bytes.writeUInt16BE(parseInt(group, 16), i * 2);
  });
  return bytes;
}
