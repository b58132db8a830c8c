/**
 * Where the app's Chromium keeps its profile (caches, local storage, GPU cache, crash reports).
 * Electron's default `userData` is `<appData>/<productName>`: on macOS
 * `~/Library/Application Support/Keygate`, the same 0700 folder as the CA key and the token
 * (engine/home.ts). Chromium writes dozens of files there that Keygate does not control, so it
 * gets a folder of its own beside it (docs/macos.md, "Files"). The shell passes this to
 * `app.setPath('userData', …)` before `ready`, which is when Chromium reads it.
 */
import { join, relative, isAbsolute, sep } from 'node:path';
import { defineError } from '../errors.js';

export class ProfileInsideHomeError extends defineError('ProfileInsideHomeError', {
  status: 500,
  code: 'profile_inside_home',
}) {}

export function chromiumProfileDir(appData: string, home: string): string {
  const dir = join(appData, 'Keygate Chromium');
  const rel = relative(home, dir);
  // KEYGATE_HOME could point anywhere, even above appData: never share the secrets folder.
  if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))) {
    throw new ProfileInsideHomeError(
      `the Chromium profile ${dir} would be inside the Keygate home ${home}; set KEYGATE_HOME elsewhere`,
    );
  }
  return dir;
}
