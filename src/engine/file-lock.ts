/**
 * A lock between Keygate processes sharing one home (the app, `keygate serve`, the CLI): a
 * `<name>.lock` symlink whose target is its owner's pid. A lock whose owner is gone (killed
 * mid-write) or that is older than `staleMs` is removed, so a crash never wedges Keygate.
 *
 * Why a symlink (as Mercurial's repository lock and Emacs's file locks are): `symlink(2)` creates
 * the lock and its content in one step, failing with EEXIST if it exists. A file opened with
 * O_EXCL and then written has a moment with no pid in it; a process killed in that moment left a
 * lock nobody could attribute, which blocked every writer until it was `staleMs` old (a CI run
 * of `test/reliability/faults.test.ts` "kill -9 … during 1,000 rapid settings writes" hit it).
 * Regular-file locks are still read: an older Keygate's, and ours on a filesystem without
 * symlinks.
 *
 * Two forms: `withFileLockSync` for the settings store, whose updates are synchronous and short,
 * and `withFileLock` for work that awaits (creating the CA).
 *
 * Any local process (an agent included) can plant something at the lock's path. Whatever is
 * there, an attempt ends within the wait: the path is looked at with lstat, a symlink is read
 * with readlink (never followed) and a file with O_NOFOLLOW | O_NONBLOCK, so a FIFO or a device
 * is never blocked on. A symlink whose target is not a pid (dangling or not), a FIFO, a socket or
 * a device is removed and taken over; a directory is reported (`failed`), never removed.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode } from './errors.js';
import { processAlive } from './process-alive.js';

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
/**
 * A regular-file lock with no pid in it is a maker between its O_EXCL open and its write
 * (microseconds), or one killed there. After this long it is the second, and taken over.
 */
const NO_PID_GRACE_MS = 1_000;
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
    release(lockPath, options);
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
    release(lockPath, options);
  }
}

/**
 * Removes the lock if it is still ours. A holder that ran past `staleMs` (stopped in a debugger,
 * SIGSTOP) may have been taken over; the lock at the path is then its successor's, and removing
 * it would let a third process in beside the successor.
 */
function release(lockPath: string, options: FileLockOptions): void {
  try {
    const found = readLock(lockPath, options);
    if (typeof found === 'object' && found.owner === process.pid) fs.unlinkSync(lockPath);
  } catch {
    // Not thrown from the `finally` it runs in, over the section's own result or error (the
    // settings were written). A lock left here (its path made unremovable, or replaced by a
    // directory meanwhile) is found by the next attempt, which takes it over or reports it.
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
      createLock(lockPath);
      return true;
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw options.error('failed', error);
      if (!removeStaleLock(lockPath, options)) return false;
    }
  }
  return false;
}

/** Codes of a filesystem that cannot hold symlinks (FAT and exFAT volumes, some network shares). */
const NO_SYMLINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * The lock as a symlink to our pid; where the filesystem has no symlinks, as Mercurial does, a
 * file created with O_EXCL and then given the pid (a kill between the two leaves a lock with no
 * pid, taken over after NO_PID_GRACE_MS). Throws EEXIST when a lock is there.
 */
function createLock(lockPath: string): void {
  try {
    fs.symlinkSync(String(process.pid), lockPath);
    return;
  } catch (error) {
    if (!NO_SYMLINKS.has(errnoCode(error) ?? '')) throw error;
  }
  const fd = fs.openSync(lockPath, 'wx', LOCK_FILE_MODE);
  try {
    fs.writeSync(fd, String(process.pid));
  } finally {
    fs.closeSync(fd);
  }
}

/** True when the lock's owner is gone, it is too old, or it is not a lock; then it has been removed. */
function removeStaleLock(lockPath: string, options: FileLockOptions): boolean {
  const staleMs = options.staleMs ?? DEFAULTS.staleMs;
  const found = readLock(lockPath, options);
  // Released between our open and this read: try again at once.
  if (found === 'gone') return true;
  if (found !== 'odd') {
    const { owner, age } = found;
    if (!Number.isInteger(owner) || owner <= 0) {
      if (age < Math.min(staleMs, NO_PID_GRACE_MS)) return false;
    } else if (age < staleMs && processAlive(owner)) {
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

/** What a lock symlink's target is: a pid, nothing else (at most 10 digits). */
const PID_TARGET = /^[1-9][0-9]{0,9}$/;

/**
 * The lock's pid and age; `odd` for a symlink whose target is not a pid (planted) and for
 * anything that is neither a symlink nor a regular file (a FIFO, socket or device), `gone` when
 * nothing is there. A directory cannot be taken over by unlinking
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
  if (stat.isSymbolicLink()) {
    let target: string;
    try {
      target = fs.readlinkSync(lockPath);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return 'gone';
      // Swapped for something else since the lstat: look again on the next attempt.
      if (errnoCode(error) === 'EINVAL') return 'gone';
      throw options.error('failed', error);
    }
    if (!PID_TARGET.test(target)) return 'odd';
    return { owner: Number(target), age: Date.now() - stat.mtimeMs };
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
