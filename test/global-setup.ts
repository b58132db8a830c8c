/**
 * CLI and client tests run the built `keygate` bin, exactly as users do; build it once per run
 * so a test never exercises stale output. `KEYGATE_TEST_BUILD=engine` limits the build to the
 * engine and CLI while iterating on them (CI always builds everything).
 */
import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from './helpers/keygate-process.js';

export default function setup(): void {
  const parts = process.env.KEYGATE_TEST_BUILD?.split(',').filter(Boolean) ?? [];
  execFileSync(process.execPath, ['scripts/build.mjs', ...parts], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
}
