/**
 * `keygate map list` (and every other read) on a home the user cannot write: reading settings must
 * not need the write lock (issue 9 §4). Root ignores permission bits through CAP_DAC_OVERRIDE,
 * so when the tests run as root (CI) the CLI runs as root without that capability (setpriv),
 * which makes the 0500 home read-only for it as it is for any owner. (Running as `nobody`
 * instead fails in a 0700 clone directory, which nobody cannot enter.)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYGATE_BIN, keygate, tempHome } from '../helpers/keygate-process.js';

const asRoot = process.getuid?.() === 0;

/** Runs `argv` as the home's owner, bound by its permission bits even when that owner is root. */
function runAsOwner(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const [command, args] = asRoot
    ? ['setpriv', ['--bounding-set=-dac_override,-dac_read_search', '--', ...argv]]
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
