/**
 * A kill between writing the CA key and its certificate (issue 9 §4) must not leave a CA that
 * needs a hand fix. The child is SIGKILLed by its own hand at exactly that point: right after the
 * rename that puts ca-key.pem in place, before ca.pem is written.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/keygate-process.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-ca-kill-');
const CA_MODULE = pathToFileURL(join(REPO_ROOT, 'dist/engine/tls/certificate-authority.js')).href;

/** Creates a CA in `dir`, killing itself once the key is renamed into place. */
const KILLED_AFTER_KEY = `
  import fs from 'node:fs';
  const rename = fs.promises.rename;
  fs.promises.rename = async (from, to) => {
    await rename(from, to);
    if (String(to).endsWith('ca-key.pem')) process.kill(process.pid, 'SIGKILL');
  };
  const { loadOrCreateCertificateAuthority } = await import(process.env.CA_MODULE);
  await loadOrCreateCertificateAuthority(process.env.CA_DIR);
`;

const LOAD = `
  const { loadOrCreateCertificateAuthority } = await import(process.env.CA_MODULE);
  const ca = await loadOrCreateCertificateAuthority(process.env.CA_DIR);
  process.stdout.write(ca.fingerprint256);
`;

function run(script: string, dir: string) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, CA_MODULE, CA_DIR: dir },
    timeout: 20_000,
  });
}

describe('a kill while the CA is being created', () => {
  it('between the key and the certificate: the next start completes the CA by itself', () => {
    const dir = join(tempDir(), 'ca');
    const killed = run(KILLED_AFTER_KEY, dir);
    expect(killed.signal).toBe('SIGKILL');
    // The dead process's lock is left too: its pid is gone, so it is taken over.
    expect(readdirSync(dir).sort()).toEqual(['ca-key.pem', 'ca.lock']);

    const next = run(LOAD, dir);
    expect(next.stderr).toBe('');
    expect(next.status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['ca-key.pem', 'ca.pem']);
    expect(run(LOAD, dir).stdout).toBe(next.stdout);
  });
});
