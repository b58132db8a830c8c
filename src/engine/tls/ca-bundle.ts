/**
 * The trust bundle for clients whose CA variable *replaces* their trust store (SSL_CERT_FILE and
 * friends): every public root Node trusts, plus the Keygate CA. Rewritten only when it changes.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import tls from 'node:tls';
import { writeFileAtomic } from '../atomic-write.js';

export function caBundleContents(
  caPem: string,
  roots: readonly string[] = tls.rootCertificates,
): string {
  return `${[...roots, caPem.trim()].join('\n')}\n`;
}

export async function writeCaBundle(path: string, caPem: string): Promise<void> {
  const contents = caBundleContents(caPem);
  const current = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new Error(`cannot read the CA bundle at ${path}: ${err.message}`, { cause: err });
  });
  if (current === contents) return;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Certificates are public, 0644 like ca.pem; the 0700 directory still limits who reaches it.
  await writeFileAtomic(path, contents, 0o644);
}
