/**
 * CLI and client tests run the built `keygate` bin, exactly as users do; build it once per run
 * so a test never exercises stale output.
 */
import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from './helpers/keygate-process.js';

export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO_ROOT, stdio: 'inherit' });
}
