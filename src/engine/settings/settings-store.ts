/**
 * The settings file (`<home>/settings.json`), shared by `keygate serve`, the CLI and the app
 * (electron-store, which is conf underneath). Writes are atomic, mode 0600, and whole or not at
 * all (writeWholeFileAtomically); zod is the only validator. Watching for other processes' writes
 * is conf's fs.watch on macOS and Windows (fast), backed everywhere by a FileChangePoller whose
 * baseline cannot race a write (see file-change-poller.ts for why conf's Linux poll can).
 *
 * Why conf gets no `schema`: conf validates with ajv, and ajv in strict mode refuses the JSON Schema
 * that `z.toJSONSchema(settingsSchema)` produces ("strict mode: default is ignored for:
 * data.format", the `default` inside the injector's `oneOf`). Conf also swallows the errors of an
 * invalid file in its change handler, so we could not report an invalid external write. The file
 * is therefore read and validated here, with zod.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type Conf from 'conf';
import type { z } from 'zod';
import {
  SETTINGS_SCHEMA_VERSION,
  settingsSchema,
  type Settings,
} from '../../shared/settings-schema.js';
import { errnoCode, SettingsError } from '../errors.js';
import { writeFileAtomicSync } from '../atomic-write.js';
import { withFileLockSync, type FileLockOptions } from '../file-lock.js';
import { FileChangePoller } from './file-change-poller.js';
import { migrate, schemaVersionOf } from './migrations.js';

const CONFIG_NAME = 'settings';
const FILE_EXTENSION = 'json';
/** The file holds agent tokens, so only the owner may read it. */
const FILE_MODE = 0o600;
const HOME_MODE = 0o700;

export interface SettingsStoreOptions {
  /** Watch the file for writes by other processes (the CLI while `serve` runs). */
  watch?: boolean;
  /** The file was corrupt (at open, or found corrupt by `update`) and has been kept aside. */
  onRecovered?: (info: { corruptPath: string; reason: string }) => void;
  /** The watched file changed to something unusable; the last good settings stay in effect. */
  onInvalid?: (info: { reason: string }) => void;
  /**
   * Checks beyond the schema (the engine compiles the rules: duplicate hosts, bad grants). Throws
   * to refuse: an `update()` then fails unwritten, and a watched external write is reported
   * through `onInvalid` while the last good settings stay in effect.
   */
  validate?: (settings: Settings) => void;
}

type FileRead =
  | { kind: 'missing' }
  | { kind: 'valid'; settings: Settings; migrated: boolean }
  | { kind: 'corrupt'; reason: string };

export class SettingsStore {
  readonly path: string;
  readonly recoveredFrom: string | undefined;

  /** Only while watching on macOS and Windows (CONF_WATCH_IS_EVENT_BASED). */
  #conf: Conf<Settings> | undefined;
  readonly #options: SettingsStoreOptions;
  readonly #listeners = new Set<(settings: Settings) => void>();
  /** Deep-frozen: handed out by `get()` as is, so callers cannot change the store's copy. */
  #current: Settings;
  /** Set while this store writes, so conf's `change` event for our own write is not re-read. */
  #writing = false;
  #closed = false;
  #poller: FileChangePoller | undefined;

  private constructor(
    filePath: string,
    initial: Settings,
    recoveredFrom: string | undefined,
    options: SettingsStoreOptions,
  ) {
    this.path = filePath;
    this.#current = deepFreeze(initial);
    this.recoveredFrom = recoveredFrom;
    this.#options = options;
  }

  /**
   * Opens `<home>/settings.json`, creating home (0700) and the file (0600) when missing. A corrupt
   * file is kept aside and replaced by defaults; a file from a newer Keygate is refused untouched.
   */
  static open(home: string, options: SettingsStoreOptions = {}): SettingsStore {
    const resolvedHome = path.resolve(home);
    ensureHome(resolvedHome);
    const filePath = path.join(resolvedHome, `${CONFIG_NAME}.${FILE_EXTENSION}`);

    // A read needs no lock (`map list` works on a read-only home): the file is only ever replaced
    // whole, by rename, so what we read is one complete version of it.
    const first = readSettingsFile(filePath);
    if (first.kind === 'valid' && !first.migrated) {
      return SettingsStore.#finishOpen(filePath, resolvedHome, first.settings, undefined, options);
    }

    // Under the lock: two processes starting on a fresh home must not both find the file missing
    // and the later one write defaults over what the first has since saved (its default agent).
    return withFileLockSync(`${filePath}.lock`, settingsLock(filePath), () => {
      const read = readSettingsFile(filePath);
      let initial: Settings;
      let mustWrite: boolean;
      let recovered: { corruptPath: string; reason: string } | undefined;
      switch (read.kind) {
        case 'missing':
          initial = defaultSettings();
          mustWrite = true;
          break;
        case 'valid':
          initial = read.settings;
          mustWrite = read.migrated;
          break;
        case 'corrupt':
          recovered = { corruptPath: keepAside(filePath, read.reason), reason: read.reason };
          initial = defaultSettings();
          mustWrite = true;
          break;
      }

      return SettingsStore.#finishOpen(
        filePath,
        resolvedHome,
        initial,
        recovered,
        options,
        mustWrite,
      );
    });
  }

  static #finishOpen(
    filePath: string,
    home: string,
    initial: Settings,
    recovered: { corruptPath: string; reason: string } | undefined,
    options: SettingsStoreOptions,
    mustWrite = false,
  ): SettingsStore {
    const store = new SettingsStore(filePath, initial, recovered?.corruptPath, options);
    try {
      if (mustWrite) store.#write(initial);
      store.#ensureFileMode();
      if (options.watch) store.#watch(home);
      if (recovered) options.onRecovered?.(recovered);
    } catch (error) {
      // The caller never gets the store, so nobody else could stop its watcher.
      store.close();
      throw error;
    }
    return store;
  }

  /** The last good settings: validated, defaults applied, deep-frozen. */
  get(): Settings {
    return this.#current;
  }

  /**
   * Read-modify-write against what is on disk now (another process may have written since we
   * last looked). `fn` gets a mutable clone and may mutate it or return a replacement. The result
   * is validated before anything is written; on any failure the file and `get()` are unchanged.
   */
  update(fn: (draft: Settings) => Settings | void): Settings {
    // Under the file lock: two processes (two `keygate map add`, the CLI and the app) must not
    // both read the same file and each write it back without the other's change.
    const next = withFileLockSync(`${this.path}.lock`, settingsLock(this.path), () => {
      const draft = structuredClone(this.#readLatest());
      const returned = fn(draft);
      const parsed = parseSettings(returned === undefined ? draft : returned);
      if (parsed.schemaVersion !== SETTINGS_SCHEMA_VERSION) {
        // The version says which code may read the file; a caller changing it would lock out
        // (or mislead) other Keygate processes.
        throw new SettingsError(
          `Invalid settings: schemaVersion is managed by Keygate and must stay ${SETTINGS_SCHEMA_VERSION} (got ${parsed.schemaVersion})`,
        );
      }
      this.#validate(parsed);
      this.#write(parsed);
      return parsed;
    });
    this.#accept(next);
    return this.#current;
  }

  /**
   * Calls `listener` with the new settings after `update()` and, with `watch: true`, when another
   * process writes a valid file. Returns the unsubscribe function.
   */
  onChange(listener: (settings: Settings) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Stops watching; idempotent. The store can still be read and updated afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conf?.events.removeEventListener('change', this.#handleFileChange);
    this.#conf?._closeWatcher();
    this.#poller?.close();
    this.#listeners.clear();
  }

  /** Started after our own writes, synchronously: whatever lands from here on is a change. */
  #watch(home: string): void {
    this.#poller = new FileChangePoller(this.path, this.#handleFileChange);
    if (ConfWhereEventBased === undefined) return;
    this.#conf = openConf(ConfWhereEventBased, home, this.path);
    // Listening on `events` rather than `onDidAnyChange`: the latter drops changes it cannot read,
    // and an unreadable external write is exactly what `onInvalid` has to hear about.
    this.#conf.events.addEventListener('change', this.#handleFileChange);
  }

  /** The file as it is now, falling back to the last good settings where it cannot be used. */
  #readLatest(): Settings {
    const read = readSettingsFile(this.path);
    switch (read.kind) {
      case 'valid':
        return read.settings;
      case 'missing':
        // Deleted behind our back: the write that follows recreates it from what we knew.
        return this.#current;
      case 'corrupt': {
        // Writing over it would lose whatever the user was editing, so it is kept aside first.
        const corruptPath = keepAside(this.path, read.reason);
        this.#options.onRecovered?.({ corruptPath, reason: read.reason });
        return this.#current;
      }
    }
  }

  #write(settings: Settings): void {
    this.#writing = true;
    try {
      writeWholeFileAtomically(this.path, serialize(settings), FILE_MODE);
    } catch (error) {
      throw new SettingsError(`Could not save settings to ${this.path}: ${describeError(error)}`, {
        cause: error,
      });
    } finally {
      this.#writing = false;
    }
    this.#ensureFileMode();
    this.#poller?.rebaseline();
  }

  /** The caller's checks beyond the schema; their error, named, refuses the settings. */
  #validate(settings: Settings): void {
    const validate = this.#options.validate;
    if (!validate) return;
    try {
      validate(settings);
    } catch (error) {
      throw new SettingsError(`Invalid settings: ${describeError(error)}`, { cause: error });
    }
  }

  /**
   * Our writes give 0600 from the first byte; verified because the file holds tokens. Through a
   * descriptor opened O_NOFOLLOW, so a symlink planted in the meantime is refused, not chmod'ed.
   */
  #ensureFileMode(): void {
    let fd: number | undefined;
    try {
      fd = fs.openSync(this.path, fs.constants.O_RDONLY | NOFOLLOW);
      if ((fs.fstatSync(fd).mode & 0o777) !== FILE_MODE) fs.fchmodSync(fd, FILE_MODE);
    } catch (error) {
      if (errnoCode(error) === 'ELOOP') throw symlinkError(this.path);
      throw new SettingsError(
        `Could not restrict ${this.path} to mode 0600: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  /** Makes `next` current and tells the listeners, unless nothing actually changed. */
  #accept(next: Settings): void {
    if (isDeepStrictEqual(next, this.#current)) return;
    this.#current = deepFreeze(next);
    for (const listener of [...this.#listeners]) {
      try {
        listener(this.#current);
      } catch (error) {
        // One failing listener must neither starve the others nor make a saved update look
        // failed; rethrown on its own so it still surfaces as an uncaught error.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** Conf's `change` event (our own writes, ignored, and external ones) or the poller's. */
  readonly #handleFileChange = (): void => {
    if (this.#writing || this.#closed) return;
    // Stamped before reading, so a write that lands after the read still looks new to the poller.
    this.#poller?.rebaseline();
    let read: FileRead;
    try {
      read = readSettingsFile(this.path);
    } catch (error) {
      // Unreadable or from a newer Keygate: a running proxy keeps its last good settings.
      if (error instanceof SettingsError) {
        this.#options.onInvalid?.({ reason: error.message });
        return;
      }
      throw error;
    }
    switch (read.kind) {
      case 'valid':
        try {
          this.#validate(read.settings);
        } catch (error) {
          this.#options.onInvalid?.({
            reason: `${this.path} does not compile (${describeError(error)}); keeping the last good settings`,
          });
          return;
        }
        // A migrated external file is used as is and not written back: the writer owns it.
        this.#accept(read.settings);
        return;
      case 'missing':
        this.#options.onInvalid?.({
          reason: `${this.path} was removed; keeping the last good settings`,
        });
        return;
      case 'corrupt':
        this.#options.onInvalid?.({
          reason: `${this.path} is invalid (${read.reason}); keeping the last good settings`,
        });
        return;
    }
  };
}

/**
 * The settings lock: another process's update is waited for, briefly. Updates are short, so a
 * wait longer than this means a hung process, and the error says which file to remove.
 */
function settingsLock(filePath: string): FileLockOptions {
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

function serialize(settings: Settings): string {
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
function writeWholeFileAtomically(filePath: string, data: string, mode: number): void {
  assertNotSymlink(filePath);
  writeFileAtomicSync(filePath, data, mode);
}

/** O_NOFOLLOW where the platform has it (not on Windows, where symlinks need privilege). */
const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

function symlinkError(filePath: string): SettingsError {
  return new SettingsError(
    `${filePath} is a symbolic link; Keygate does not read or write settings through a link. ` +
      `Replace it with the file itself (for example: mv "$(readlink -f ${filePath})" ${filePath})`,
  );
}

function assertNotSymlink(filePath: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(filePath);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw error;
  }
  if (stat.isSymbolicLink()) throw symlinkError(filePath);
}

function defaultSettings(): Settings {
  return settingsSchema.parse({});
}

/** Validates with zod; a failure becomes a SettingsError naming the path of every issue. */
function parseSettings(candidate: unknown): Settings {
  const result = settingsSchema.safeParse(candidate);
  if (!result.success) {
    throw new SettingsError(`Invalid settings: ${formatIssues(result.error)}`, {
      cause: result.error,
    });
  }
  return result.data;
}

/** `mappings[0].host: Too small…; proxy.port: …`. Zod messages name types and limits, never values. */
function formatIssues(error: z.ZodError): string {
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
function readSettingsFile(filePath: string): FileRead {
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
function keepAside(filePath: string, reason: string): string {
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
function ensureHome(home: string): void {
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

/**
 * Conf watches with fs.watch on macOS and Windows: events as they happen, ~100 ms. On Linux it
 * polls with fs.watchFile, which FileChangePoller already does without its race, so there conf is
 * not loaded at all (it brings ajv and semver: ~130 modules, docs/performance.md).
 */
const ConfWhereEventBased =
  process.platform === 'darwin' || process.platform === 'win32'
    ? (await import('conf')).default
    : undefined;

function openConf(ConfClass: typeof Conf, home: string, filePath: string): Conf<Settings> {
  try {
    return new ConfClass<Settings>({
      projectName: 'keygate',
      cwd: home,
      configName: CONFIG_NAME,
      fileExtension: FILE_EXTENSION,
      accessPropertiesByDotNotation: false,
      // Recovery (keep aside, never wipe) is ours; conf would overwrite the file with defaults.
      clearInvalidConfig: false,
      configFileMode: FILE_MODE,
      watch: true,
    });
  } catch (error) {
    throw new SettingsError(`Could not watch ${filePath}: ${describeError(error)}`, {
      cause: error,
    });
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** `ENOTDIR: not a directory, …`; Node's fs messages already start with the errno code. */
function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = errnoCode(error);
  return code === undefined || message.startsWith(code) ? message : `${code}: ${message}`;
}
