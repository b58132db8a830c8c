/**
 * Environment variables that exist only so tests can reach past a true edge. A packaged app must
 * not honour them: `KEYGATE_OP_CLIENT_MODULE` names a module that is handed the 1Password token,
 * so any process that can set the app's environment (`launchctl setenv`, an agent) could read it.
 * The shell calls `dropTestSwitches(process.env, app.isPackaged)` before anything reads them
 * (docs/security.md, "The packaged app"). Every KEYGATE_* variable that src/ reads is listed
 * here or in USER_SWITCHES; test/engine/desktop/test-switches.test.ts keeps it so.
 */
import { OP_CLIENT_MODULE_ENV } from '../secrets/secret-setup.js';

/** Honoured only by `keygate` from a checkout and by the unpackaged app. */
export const TEST_SWITCHES: readonly string[] = [OP_CLIENT_MODULE_ENV];

/** Meant for users, packaged or not: the home folder and the log level. */
export const USER_SWITCHES: readonly string[] = ['KEYGATE_HOME', 'KEYGATE_LOG'];

/** Removes the test-only switches from `env` when packaged; returns the names it removed. */
export function dropTestSwitches(env: NodeJS.ProcessEnv, isPackaged: boolean): string[] {
  if (!isPackaged) return [];
  const dropped = TEST_SWITCHES.filter((name) => env[name] !== undefined);
  for (const name of dropped) delete env[name];
  return dropped;
}
