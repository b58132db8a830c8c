import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  encodeName,
  generateEcKeyPair,
  ipAddressBytes,
  keyIdentifierOf,
  randomSerialNumber,
  readIssuerFields,
  signCertificate,
  subjectAltName,
  toPem,
} from '../../../src/engine/tls/certificate-der.js';
import { DerError } from '../../../src/engine/tls/der.js';
import { createTestPki } from '../../helpers/test-pki.js';
import { x509 } from '../../helpers/x509-runtime.js';

describe('ipAddressBytes', () => {
  it.each([
    ['127.0.0.1', '7f000001'],
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['fe80::1', 'fe800000000000000000000000000001'],
    ['2001:db8::ff00:42:8329', '20010db8000000000000ff0000428329'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['::ffff:102:304', '00000000000000000000ffff01020304'],
  ])('%s', (address, expected) => {
    expect(ipAddressBytes(address).toString('hex')).toBe(expected);
  });

  it.each(['1.2.3', '1.2.3.256', '1::2::3', '1:2:3:4:5:6:7', 'g::1', '1:2:3:4:5:6:7:8::'])(
    'refuses %s',
    (address) => {
      expect(() => ipAddressBytes(address)).toThrow(DerError);
    },
  );
});

describe('signCertificate', () => {
  it('writes a certificate that Node, OpenSSL and @peculiar/x509 all read the same way', async () => {
    const issuer = await generateEcKeyPair();
    const subject = await generateEcKeyPair();
    const spki = subject.publicKey.export({ type: 'spki', format: 'der' });
    const notBefore = new Date('2026-01-02T03:04:05Z');
    const notAfter = new Date('2060-06-07T08:09:10Z');
    const der = signCertificate(
      {
        serialNumber: randomSerialNumber(),
        issuer: encodeName({ commonName: 'Issuer CA', organization: 'Keygate' }),
        subject: encodeName({ commonName: 'ünïcode.example' }),
        notBefore,
        notAfter,
        subjectPublicKeyInfo: spki,
        extensions: [
          subjectAltName([
            { kind: 'dns', value: 'a.example' },
            { kind: 'ip', value: '::1' },
          ]),
        ],
      },
      issuer.privateKey,
    );

    const node = new X509Certificate(der);
    expect(node.verify(issuer.publicKey)).toBe(true);
    expect(node.subjectAltName).toBe('DNS:a.example, IP Address:0:0:0:0:0:0:0:1');
    expect(node.checkPrivateKey(subject.privateKey)).toBe(true);

    const peculiar = new x509.X509Certificate(toPem(der));
    expect(peculiar.subject).toBe('CN=ünïcode.example');
    expect(peculiar.issuer).toBe('CN=Issuer CA, O=Keygate');
    expect(peculiar.notBefore).toEqual(notBefore);
    expect(peculiar.notAfter).toEqual(notAfter); // GeneralizedTime, after 2049

    const fields = readIssuerFields(der);
    expect(fields.notBefore).toEqual(notBefore);
    expect(fields.notAfter).toEqual(notAfter);
    expect(fields.subject.equals(encodeName({ commonName: 'ünïcode.example' }))).toBe(true);
    expect(fields.subjectKeyIdentifier).toBeUndefined();
  });

  it('refuses to sign with a key that cannot sign', async () => {
    const keys = await generateEcKeyPair();
    const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
    const fields = {
      serialNumber: randomSerialNumber(),
      issuer: encodeName({ commonName: 'x' }),
      subject: encodeName({ commonName: 'x' }),
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 1000),
      subjectPublicKeyInfo: spki,
      extensions: [],
    };
    expect(() => signCertificate(fields, keys.publicKey)).toThrow();
    expect(() =>
      signCertificate(
        fields,
        createPrivateKey(keys.privateKey.export({ type: 'pkcs8', format: 'pem' })),
      ),
    ).not.toThrow();
  });
});

describe('readIssuerFields', () => {
  it('reads the subject bytes and SKI of a CA written by another encoder (@peculiar/x509)', async () => {
    const pki = await createTestPki();
    const ca = new x509.X509Certificate(pki.caPem);
    const fields = readIssuerFields(Buffer.from(ca.rawData));

    expect(fields.subject.equals(Buffer.from(ca.subjectName.toArrayBuffer()))).toBe(true);
    expect(fields.subjectKeyIdentifier?.toString('hex')).toBe(
      ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    );
    expect(fields.notAfter).toEqual(ca.notAfter);
    // RFC 5280 §4.2.1.2 method (1), computed by the same rule @peculiar/x509 uses.
    const spki = Buffer.from(ca.publicKey.rawData);
    expect(keyIdentifierOf(spki).toString('hex')).toBe(
      ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    );
  });

  it('refuses what is not a certificate with a DerError', () => {
    expect(() => readIssuerFields(Buffer.from('30030201ff', 'hex'))).toThrow(DerError);
    expect(() => readIssuerFields(Buffer.from('not der'))).toThrow(DerError);
  });
});
