/**
 * The settings file on disk, apart from the store that holds it in memory (settings-store.ts):
 * reading and classifying it (valid, missing, corrupt, from a newer Keygate), writing it whole or
 * not at all, never through a symlink, keeping a corrupt file aside, the home's mode, and the lock
 * that serialises writers across processes.
 */
import fs from 'node:fs';
import type { z } from 'zod';
import {
  SETTINGS_SCHEMA_VERSION,
  settingsSchema,
  type Settings,
} from '../../shared/settings-schema.js';
import { errnoCode, SettingsError } from '../errors.js';
import { writeFileAtomicSync } from '../atomic-write.js';
import type { FileLockOptions } from '../file-lock.js';
import { migrate, schemaVersionOf } from './migrations.js';

/** The file holds agent tokens, so only the owner may read it. */
export const FILE_MODE = 0o600;
const HOME_MODE = 0o700;

export type FileRead =
  | { kind: 'missing' }
  | { kind: 'valid'; settings: Settings; migrated: boolean }
  | { kind: 'corrupt'; reason: string };

/**
 * The settings lock: another process's update is waited for, briefly. Updates are short, so a
 * wait longer than this means a hung process, and the error says which file to remove.
 */
export function settingsLock(filePath: string): FileLockOptions {
  return {
    error: (reason, cause) =>
      reason === 'held'
        ? new SettingsError(
            `Could not save settings to ${filePath}: another Keygate process holds ${filePath}.lock; ` +
              'if none is running, delete that file',
          )
        : new SettingsError(`Could not save settings to ${filePath}: ${describeError(cause)}`, {
            cause,
          }),
  };
}

export function serialize(settings: Settings): string {
  return JSON.stringify(settings, undefined, '\t');
}

/**
 * Replaces `filePath` with `data`, all of it or nothing. conf's atomic write (through
 * `atomically`) issues a single write() and never checks how much of it landed: on a full disk,
 * or past RLIMIT_FSIZE, it renamed a truncated temporary file over the good settings and
 * reported success, and the next open kept the truncated file aside and started from defaults.
 * Here the temporary file gets every byte (fs.writeFileSync loops over short writes and throws
 * ENOSPC / EFBIG / EDQUOT), is flushed to disk, and only then renamed over the file; on any
 * failure it is removed and the old file is untouched. A settings.json that is a symlink is
 * refused (a SettingsError naming the link), not followed: the home is shared with agents, and one could point it
 * at a file of the user's for Keygate to overwrite with 0600 settings.
 */
export function writeWholeFileAtomically(filePath: string, data: string, mode: number): void {
  assertNotSymlink(filePath);
  writeFileAtomicSync(filePath, data, mode);
}

/** O_NOFOLLOW where the platform has it (not on Windows, where symlinks need privilege). */
export const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

export function symlinkError(filePath: string): SettingsError {
  return new SettingsError(
    `${filePath} is a symbolic link; Keygate does not read or write settings through a link. ` +
      `Replace it with the file itself (for example: mv "$(readlink -f ${filePath})" ${filePath})`,
  );
}

export function assertNotSymlink(filePath: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(filePath);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw error;
  }
  if (stat.isSymbolicLink()) throw symlinkError(filePath);
}

export function defaultSettings(): Settings {
  return settingsSchema.parse({});
}

/** Validates with zod; a failure becomes a SettingsError naming the path of every issue. */
export function parseSettings(candidate: unknown): Settings {
  const result = settingsSchema.safeParse(candidate);
  if (!result.success) {
    throw new SettingsError(`Invalid settings: ${formatIssues(result.error)}`, {
      cause: result.error,
    });
  }
  return result.data;
}

/** `mappings[0].host: Too small…; proxy.port: …`. Zod messages name types and limits, never values. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const at = issue.path
        .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
        .join('')
        .replace(/^\./, '');
      return `${at === '' ? '(root)' : at}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Reads and classifies the file. Throws SettingsError when it cannot be read at all (other than
 * missing) or when a newer Keygate wrote it: neither may be treated as corrupt and replaced.
 */
export function readSettingsFile(filePath: string): FileRead {
  let text: string;
  try {
    // Not through a symlink (refused below), and never blocking on a FIFO planted in its place.
    const fd = fs.openSync(filePath, fs.constants.O_RDONLY | NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { kind: 'missing' };
    if (errnoCode(error) === 'ELOOP') throw symlinkError(filePath);
    throw new SettingsError(`Could not read ${filePath}: ${describeError(error)}`, {
      cause: error,
    });
  }

  let raw: unknown;
  try {
    // An editor may save a byte order mark; conf (and so electron-store) skips it too.
    raw = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    // JSON.parse's message quotes the text around the error, which may be an agent token.
    return { kind: 'corrupt', reason: 'not valid JSON' };
  }

  const version = schemaVersionOf(raw);
  if (version !== undefined && version > SETTINGS_SCHEMA_VERSION) {
    throw new SettingsError(
      `settings.json was written by a newer Keygate (schema ${version}); refusing to overwrite it. ` +
        `This Keygate understands schema ${SETTINGS_SCHEMA_VERSION}: upgrade Keygate, or move ${filePath} aside to start over.`,
    );
  }

  const { settings, migrated } = migrate(raw);
  const result = settingsSchema.safeParse(settings);
  if (!result.success) {
    return { kind: 'corrupt', reason: `schema validation failed: ${formatIssues(result.error)}` };
  }
  return { kind: 'valid', settings: result.data, migrated };
}

/**
 * Renames a corrupt file to `settings.json.corrupt-<time>` so nothing is ever silently wiped.
 * rename() replaces an existing target, so a name already taken gets a counter.
 */
export function keepAside(filePath: string, reason: string): string {
  const stamp = new Date().toISOString().replaceAll(':', '-');
  let target = `${filePath}.corrupt-${stamp}`;
  for (let n = 1; fs.existsSync(target); n++) target = `${filePath}.corrupt-${stamp}-${n}`;
  try {
    fs.renameSync(filePath, target);
  } catch (error) {
    throw new SettingsError(
      `${filePath} is corrupt (${reason}) and could not be moved aside to ${target}: ${describeError(error)}`,
      { cause: error },
    );
  }
  return target;
}

/** Creates home 0700. An existing home keeps its mode: loosening it was the user's choice. */
export function ensureHome(home: string): void {
  try {
    const created = fs.mkdirSync(home, { recursive: true, mode: HOME_MODE });
    // mkdir's mode passes through the umask; chmod makes it exactly 0700 whatever the umask.
    if (created !== undefined) fs.chmodSync(home, HOME_MODE);
  } catch (error) {
    throw new SettingsError(`Could not create the Keygate home ${home}: ${describeError(error)}`, {
      cause: error,
    });
  }
}

/** `ENOTDIR: not a directory, …`; Node's fs messages already start with the errno code. */
export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = errnoCode(error);
  return code === undefined || message.startsWith(code) ? message : `${code}: ${message}`;
}
