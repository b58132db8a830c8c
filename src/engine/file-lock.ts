/**
 * A lock between Keygate processes sharing one home (the app, `keygate serve`, the CLI): a
 * `<name>.lock` file created with O_EXCL that holds its owner's pid. A lock whose owner is gone
 * (killed mid-write) or that is older than `staleMs` is removed, so a crash never wedges Keygate.
 *
 * Two forms: `withFileLockSync` for the settings store, whose updates are synchronous and short,
 * and `withFileLock` for work that awaits (creating the CA).
 *
 * Any local process (an agent included) can plant something at the lock's path. Whatever is
 * there, an attempt ends within the wait: the path is looked at with lstat and read with
 * O_NOFOLLOW | O_NONBLOCK, so a symlink (dangling or not), a FIFO or a device is never followed
 * or blocked on. A lock file can only ever be a regular file we made, so anything else but a
 * directory is removed and taken over; a directory is reported (`failed`), never removed.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode } from './errors.js';

export interface FileLockOptions {
  /** A lock older than this is taken to be left by a process that hung or died. */
  staleMs?: number;
  /** How long to wait for another process's turn before giving up. */
  waitMs?: number;
  /** How long to sleep between attempts. */
  pollMs?: number;
  /** The error to throw: `held` when the wait ran out, `failed` when the lock file could not be made. */
  error: (reason: 'held' | 'failed', cause?: unknown) => Error;
}

const DEFAULTS = { staleMs: 10_000, waitMs: 5_000, pollMs: 5 };
const LOCK_FILE_MODE = 0o600;

export function withFileLockSync<T>(lockPath: string, options: FileLockOptions, fn: () => T): T {
  const { waitMs, pollMs } = { ...DEFAULTS, ...options };
  const deadline = Date.now() + waitMs;
  while (!tryAcquire(lockPath, options)) {
    if (Date.now() > deadline) throw options.error('held');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pollMs);
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
}

export async function withFileLock<T>(
  lockPath: string,
  options: FileLockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const { waitMs, pollMs } = { ...DEFAULTS, ...options };
  const deadline = Date.now() + waitMs;
  while (!tryAcquire(lockPath, options)) {
    if (Date.now() > deadline) throw options.error('held');
    await sleep(pollMs);
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
}

/**
 * Attempts per call: one, and a retry for a lock released or removed as stale in between. Bounded,
 * so that a path that keeps coming back (something recreating it) waits like a held lock instead
 * of spinning: the caller sleeps between calls and gives up at its deadline.
 */
const ATTEMPTS = 3;
/** A pid is at most 10 digits; reading more would let a planted huge file cost memory. */
const MAX_LOCK_BYTES = 32;

/** True when this process now holds the lock; false when another live process does. */
function tryAcquire(lockPath: string, options: FileLockOptions): boolean {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    try {
      const fd = fs.openSync(lockPath, 'wx', LOCK_FILE_MODE);
      try {
        fs.writeSync(fd, String(process.pid));
      } finally {
        fs.closeSync(fd);
      }
      return true;
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw options.error('failed', error);
      if (!removeStaleLock(lockPath, options)) return false;
    }
  }
  return false;
}

/** True when the lock's owner is gone, it is too old, or it is not a lock; then it has been removed. */
function removeStaleLock(lockPath: string, options: FileLockOptions): boolean {
  const staleMs = options.staleMs ?? DEFAULTS.staleMs;
  const found = readLock(lockPath, options);
  // Released between our open and this read: try again at once.
  if (found === 'gone') return true;
  if (found !== 'odd') {
    const { owner, age } = found;
    // A lock just created may not hold its pid yet.
    if (!Number.isInteger(owner) || owner <= 0) {
      if (age < staleMs) return false;
    } else if (age < staleMs && processExists(owner)) {
      return false;
    }
  }
  try {
    // unlink, not rm -r: removes a symlink itself, never what it points to.
    fs.unlinkSync(lockPath);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw options.error('failed', error);
  }
  return true;
}

/**
 * The lock's pid and age; `odd` for anything that is not a regular file (a planted symlink, FIFO,
 * socket or device), `gone` when nothing is there. A directory cannot be taken over by unlinking
 * and might hold someone's files, so it is reported.
 */
function readLock(
  lockPath: string,
  options: FileLockOptions,
): { owner: number; age: number } | 'odd' | 'gone' {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(lockPath);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return 'gone';
    throw options.error('failed', error);
  }
  if (stat.isDirectory()) {
    throw options.error('failed', new Error(`${lockPath} is a directory, not a lock file`));
  }
  if (!stat.isFile()) return 'odd';
  let fd: number;
  try {
    // Swapped for a symlink or FIFO since the lstat: ELOOP / no blocking, instead of following it.
    fd = fs.openSync(
      lockPath,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return 'gone';
    if (errnoCode(error) === 'ELOOP') return 'odd';
    throw options.error('failed', error);
  }
  try {
    const opened = fs.fstatSync(fd);
    if (!opened.isFile()) return 'odd';
    const buffer = Buffer.alloc(MAX_LOCK_BYTES);
    const length = fs.readSync(fd, buffer, 0, MAX_LOCK_BYTES, 0);
    return { owner: Number(buffer.toString('utf8', 0, length)), age: Date.now() - opened.mtimeMs };
  } catch (error) {
    throw options.error('failed', error);
  } finally {
    fs.closeSync(fd);
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return errnoCode(error) === 'EPERM';
  }
}
