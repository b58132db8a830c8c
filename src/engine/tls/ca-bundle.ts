/**
 * The trust bundle for clients whose CA variable *replaces* their trust store (SSL_CERT_FILE and
 * friends): every public root Node trusts, plus the Keygate CA. Rewritten only when it changes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import tls from 'node:tls';

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
  // Unique per call: two writers in one process must not share (and truncate) one temp file.
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  // Certificates are public, 0644 like ca.pem; the 0700 directory still limits who reaches it.
  await writeFile(temp, contents, { mode: 0o644 });
  await rename(temp, path);
}
