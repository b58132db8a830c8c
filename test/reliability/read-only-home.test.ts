/**
 * `keygate map list` (and every other read) on a home the user cannot write: reading settings must
 * not need the write lock (issue 9 §4). Root ignores permission bits, so when the tests run as
 * root (CI) the CLI runs as `nobody`, who owns the 0500 home; otherwise as the user, who does.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYGATE_BIN, keygate, tempHome } from '../helpers/keygate-process.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

/** Runs `argv` as the home's owner: `nobody` under root (through setpriv), else as we are. */
function runAsOwner(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const [command, args] = asRoot
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...argv]]
    : [argv[0]!, argv.slice(1)];
  const run = spawnSync(command, args, {
    encoding: 'utf8',
    env: { ...process.env, KEYGATE_LOG: 'warn' },
    timeout: 30_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe.runIf(process.platform !== 'win32')('a read-only home', () => {
  it('`map list` reads it, and no lock file is made', () => {
    const { home, cleanup } = tempHome();
    try {
      const added = keygate(['map', 'add', 'api.openai.com', 'env://OPENAI_API_KEY'], { home });
      expect(added.stderr).toBe('');
      if (asRoot) {
        for (const name of ['', ...readdirSync(home)]) chownSync(join(home, name), NOBODY, NOBODY);
      }
      chmodSync(home, 0o500);
      try {
        // The home really is read-only for that process.
        expect(runAsOwner(['sh', '-c', `: > ${join(home, 'probe')}`]).status).not.toBe(0);

        const listed = runAsOwner([process.execPath, KEYGATE_BIN, '--home', home, 'map', 'list']);

        expect(listed.stderr).toBe('');
        expect(listed.status).toBe(0);
        expect(listed.stdout).toContain('api.openai.com');
      } finally {
        chmodSync(home, 0o700);
      }
      expect(readdirSync(home).filter((name) => name.endsWith('.lock'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('a write there still fails with a named error, not a crash', () => {
    const { home, cleanup } = tempHome();
    try {
      writeFileSync(join(home, 'settings.json'), '{"schemaVersion":1}', { mode: 0o600 });
      if (asRoot) {
        for (const name of ['', 'settings.json']) chownSync(join(home, name), NOBODY, NOBODY);
      }
      chmodSync(home, 0o500);
      try {
        const added = runAsOwner([
          process.execPath,
          KEYGATE_BIN,
          '--home',
          home,
          'map',
          'add',
          'api.openai.com',
          'env://OPENAI_API_KEY',
        ]);
        expect(added.status).not.toBe(0);
        expect(added.stderr).toMatch(/settings.*(EACCES|permission)/i);
      } finally {
        chmodSync(home, 0o700);
      }
    } finally {
      cleanup();
    }
  });
});
