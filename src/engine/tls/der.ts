/**
 * The small part of DER (ITU-T X.690) that X.509 certificates need: writing the handful of
 * types a certificate is made of, and walking an encoded one to pick fields out of it.
 *
 * Why hand-rolled: a certificate for a new host is minted while an agent waits for its CONNECT to
 * be answered. Through @peculiar/x509 that was ~4 ms of JS per host plus ~15 MB of resident
 * modules; these writers and node:crypto's synchronous ECDSA do it in well under a millisecond
 * (docs/decisions/0006-certificates-without-a-library.md).
 */
import { defineError } from '../errors.js';

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

export class DerError extends defineError('DerError', { status: 500, code: 'der' }) {}

/** Tag, definite length (X.690 §8.1.3: short form below 128, else long form), content. */
export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(TAG.sequence, Buffer.concat(items));
export const set = (...items: Buffer[]): Buffer => tlv(TAG.set, Buffer.concat(items));
export const octetString = (bytes: Buffer): Buffer => tlv(TAG.octetString, bytes);
export const utf8String = (text: string): Buffer => tlv(TAG.utf8String, Buffer.from(text, 'utf8'));
/** X.690 §11.1: DER encodes TRUE as 0xFF. */
export const boolean = (value: boolean): Buffer =>
  tlv(TAG.boolean, Buffer.from([value ? 0xff : 0]));

/** `[n] EXPLICIT`: a constructed context-specific wrapper around one encoded value. */
export const explicit = (tagNumber: number, encoded: Buffer): Buffer =>
  tlv(0xa0 | tagNumber, encoded);

/** `[n] IMPLICIT` over a primitive type: the content with the context-specific tag in place. */
export const implicitPrimitive = (tagNumber: number, content: Buffer): Buffer =>
  tlv(0x80 | tagNumber, content);

/** A BIT STRING of whole bytes, or with `unusedBits` trailing bits of the last byte unused. */
export function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(TAG.bitString, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

/**
 * A non-negative INTEGER from big-endian bytes: minimal (X.690 §8.3.2, no leading zero bytes)
 * and with a 0x00 in front when the top bit is set, so it does not read as negative.
 */
export function unsignedInteger(bigEndian: Buffer): Buffer {
  let start = 0;
  while (start < bigEndian.length - 1 && bigEndian[start] === 0) start++;
  const trimmed = bigEndian.subarray(start);
  const content = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return tlv(TAG.integer, content.length === 0 ? Buffer.from([0]) : content);
}

export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new DerError(`smallInteger takes 0..65535, got ${value}`);
  }
  return unsignedInteger(Buffer.from([value >> 8, value & 0xff]));
}

/** X.690 §8.19: the first two arcs share a byte, the rest are base-128 with continuation bits. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || arcs.some((a) => !Number.isSafeInteger(a))) {
    throw new DerError(`not an object identifier: ${dotted}`);
  }
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const groups: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) {
      groups.unshift((v & 0x7f) | 0x80);
    }
    bytes.push(...groups);
  }
  return tlv(TAG.oid, Buffer.from(bytes));
}

/**
 * RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; both in UTC with seconds
 * and no fraction.
 */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-11-28T15:43:46.123Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ''); // 20261128154346
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new DerError(`cannot encode the year ${year}`);
  return year < 2050
    ? tlv(TAG.utcTime, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : tlv(TAG.generalizedTime, Buffer.from(`${digits}Z`, 'ascii'));
}

/** One decoded element: where its tag, content and end are in the buffer it was read from. */
export interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** Reads the element at `offset`; refuses indefinite or overlong lengths (not DER). */
export function readElement(buffer: Buffer, offset: number, limit = buffer.length): DerElement {
  const tag = buffer[offset];
  const first = buffer[offset + 1];
  if (tag === undefined || first === undefined) throw new DerError(`truncated at ${offset}`);
  if ((tag & 0x1f) === 0x1f) throw new DerError(`high tag numbers are not supported (${offset})`);
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new DerError(`unsupported length form at ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = buffer[contentStart + i];
      if (byte === undefined) throw new DerError(`truncated length at ${offset}`);
      length = length * 256 + byte;
    }
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`element at ${offset} runs past its container`);
  return { tag, start: offset, contentStart, end };
}

/** The elements directly inside a constructed element. */
export function childrenOf(buffer: Buffer, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  for (let offset = parent.contentStart; offset < parent.end;) {
    const child = readElement(buffer, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

export const contentOf = (buffer: Buffer, element: DerElement): Buffer =>
  buffer.subarray(element.contentStart, element.end);

export const encodedOf = (buffer: Buffer, element: DerElement): Buffer =>
  buffer.subarray(element.start, element.end);
