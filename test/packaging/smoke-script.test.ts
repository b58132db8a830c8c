/**
 * scripts/smoke.mjs, the release workflow's smoke test, run here against `keygate serve`: so the
 * script is known to work before a Mac runs it against the app (release-workflow.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/keygate-process.js';

const home = mkdtempSync(join(tmpdir(), 'keygate-smoke-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('scripts/smoke.mjs', () => {
  it('passes against keygate serve: port, one request through it, a clean quit, settings kept', async () => {
    const cli = join(REPO_ROOT, 'dist', 'cli', 'keygate.js');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        join(REPO_ROOT, 'scripts', 'smoke.mjs'),
        '--home',
        home,
        '--keygate',
        `${process.execPath} ${cli}`,
        '--',
        process.execPath,
        cli,
        'serve',
        '--port',
        '0',
      ],
      { cwd: REPO_ROOT, env: { ...process.env, KEYGATE_HOME: undefined }, timeout: 90_000 },
    );
    expect(stdout).toContain('smoke: one request through the proxy reached the upstream');
    expect(stdout).toContain('smoke: settings survived');
    expect(stdout).toMatch(/smoke: passed\n$/);
  }, 120_000);
});
