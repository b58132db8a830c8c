/**
 * The settings file (`<home>/settings.json`), shared by `keygate serve`, the CLI and the app
 * (electron-store, which is conf underneath). Writes are atomic, mode 0600, and whole or not at
 * all; zod is the only validator (the file itself, its reads and writes: settings-file.ts). Watching for other processes' writes
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
import { SETTINGS_SCHEMA_VERSION, type Settings } from '../../shared/settings-schema.js';
import { errnoCode, SettingsError } from '../errors.js';
import { withFileLockSync } from '../file-lock.js';
import { FileChangePoller } from './file-change-poller.js';
import {
  defaultSettings,
  describeError,
  ensureHome,
  FILE_MODE,
  keepAside,
  NOFOLLOW,
  parseSettings,
  readSettingsFile,
  serialize,
  settingsLock,
  symlinkError,
  writeWholeFileAtomically,
  type FileRead,
} from './settings-file.js';

const CONFIG_NAME = 'settings';
const FILE_EXTENSION = 'json';

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
