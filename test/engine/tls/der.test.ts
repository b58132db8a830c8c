import { describe, expect, it } from 'vitest';
import {
  DerError,
  TAG,
  childrenOf,
  contentOf,
  oid,
  readElement,
  sequence,
  time,
  tlv,
  unsignedInteger,
} from '../../../src/engine/tls/der.js';

const hex = (buffer: Buffer) => buffer.toString('hex');

describe('DER writers', () => {
  it('encodes lengths in short form below 128 and long form from 128 (X.690 §8.1.3)', () => {
    expect(hex(tlv(0x04, Buffer.alloc(127))).slice(0, 4)).toBe('047f');
    expect(hex(tlv(0x04, Buffer.alloc(128))).slice(0, 6)).toBe('048180');
    expect(hex(tlv(0x04, Buffer.alloc(300))).slice(0, 8)).toBe('0482012c');
    expect(hex(tlv(0x04, Buffer.alloc(70_000))).slice(0, 10)).toBe('0483011170');
  });

  it('encodes object identifiers with base-128 arcs (X.690 §8.19)', () => {
    // ecdsa-with-SHA256, as RFC 5758 §3.2 spells it out.
    expect(hex(oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(hex(oid('2.5.29.17'))).toBe('0603551d11');
    expect(() => oid('1')).toThrow(DerError);
    expect(() => oid('1.2.x')).toThrow(DerError);
  });

  it('encodes non-negative integers minimally, padding a set top bit (X.690 §8.3.2)', () => {
    expect(hex(unsignedInteger(Buffer.from([0x00, 0x00, 0x7f])))).toBe('02017f');
    expect(hex(unsignedInteger(Buffer.from([0x80])))).toBe('02020080');
    expect(hex(unsignedInteger(Buffer.from([0x00])))).toBe('020100');
  });

  it('switches from UTCTime to GeneralizedTime in 2050 (RFC 5280 §4.1.2.5)', () => {
    expect(time(new Date('2049-12-31T23:59:59.999Z')).toString('latin1')).toBe(
      '\x17\x0d491231235959Z',
    );
    expect(time(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe(
      '\x18\x0f20500101000000Z',
    );
    expect(() => time(new Date('1949-12-31T00:00:00Z'))).toThrow(DerError);
  });
});

describe('DER reader', () => {
  it('walks what the writers wrote, long lengths included', () => {
    const big = Buffer.alloc(1000, 7);
    const encoded = sequence(tlv(TAG.octetString, big), oid('2.5.4.3'));
    const root = readElement(encoded, 0);
    expect(root.end).toBe(encoded.length);
    const [first, second] = childrenOf(encoded, root);
    expect(first?.tag).toBe(TAG.octetString);
    expect(contentOf(encoded, first!).equals(big)).toBe(true);
    expect(second?.tag).toBe(TAG.oid);
  });

  it('refuses truncated input, indefinite lengths and elements overrunning their parent', () => {
    expect(() => readElement(Buffer.from([0x30]), 0)).toThrow(DerError);
    expect(() => readElement(Buffer.from([0x30, 0x80, 0x00, 0x00]), 0)).toThrow(/length form/);
    expect(() => readElement(Buffer.from([0x04, 0x05, 0x01]), 0)).toThrow(/runs past/);
    const lying = Buffer.from([0x30, 0x03, 0x04, 0x05, 0x00]);
    expect(() =>
      childrenOf(lying, readElement(Buffer.concat([lying, Buffer.alloc(8)]), 0)),
    ).toThrow(/runs past/);
    expect(() => readElement(Buffer.from([0x1f, 0x01, 0x00]), 0)).toThrow(/high tag/);
  });
});
