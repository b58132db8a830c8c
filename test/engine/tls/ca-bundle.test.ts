import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { caBundleContents, writeCaBundle } from '../../../src/engine/tls/ca-bundle.js';
import { loadOrCreateCertificateAuthority } from '../../../src/engine/tls/certificate-authority.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-bundle-');

describe('writeCaBundle', () => {
  it('holds every public root Node trusts, then the Keygate CA, readable by clients (0644)', async () => {
    const dir = tempDir();
    const ca = await loadOrCreateCertificateAuthority(join(dir, 'ca'));
    const path = join(dir, 'ca', 'ca-bundle.pem');
    await writeCaBundle(path, ca.certPem);
    const bundle = readFileSync(path, 'utf8');
    expect(bundle).toBe(caBundleContents(ca.certPem));
    expect(bundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(tls.rootCertificates.length + 1);
    expect(bundle.trimEnd().endsWith(ca.certPem.trim())).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });

  it('survives writers racing in one process: one whole file, no temporary left behind', async () => {
    const dir = tempDir();
    const ca = await loadOrCreateCertificateAuthority(join(dir, 'ca'));
    const path = join(dir, 'ca', 'ca-bundle.pem');
    await Promise.all(Array.from({ length: 8 }, () => writeCaBundle(path, ca.certPem)));
    expect(readFileSync(path, 'utf8')).toBe(caBundleContents(ca.certPem));
    expect(readdirSync(join(dir, 'ca')).sort()).toEqual(['ca-bundle.pem', 'ca-key.pem', 'ca.pem']);
  });
});
