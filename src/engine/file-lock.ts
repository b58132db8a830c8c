/**
 * A lock between Keygate processes sharing one home (the app, `keygate serve`, the CLI): a
 * `<name>.lock` file created with O_EXCL that holds its owner's pid. A lock whose owner is gone
 * (killed mid-write) or that is older than `staleMs` is removed, so a crash never wedges Keygate.
 *
 * Two forms: `withFileLockSync` for the settings store, whose updates are synchronous and short,
 * and `withFileLock` for work that awaits (creating the CA).
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

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

/** True when this process now holds the lock; false when another live process does. */
function tryAcquire(lockPath: string, options: FileLockOptions): boolean {
  for (;;) {
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
}

/** True when the lock's owner is gone or it is too old; then it has been removed. */
function removeStaleLock(lockPath: string, options: FileLockOptions): boolean {
  const staleMs = options.staleMs ?? DEFAULTS.staleMs;
  let owner: number;
  let age: number;
  try {
    owner = Number(fs.readFileSync(lockPath, 'utf8'));
    age = Date.now() - fs.statSync(lockPath).mtimeMs;
  } catch (error) {
    // Released between our open and this read: try again at once.
    if (errnoCode(error) === 'ENOENT') return true;
    throw options.error('failed', error);
  }
  // A lock just created may not hold its pid yet.
  if (!Number.isInteger(owner) || owner <= 0) {
    if (age < staleMs) return false;
  } else if (age < staleMs && processExists(owner)) {
    return false;
  }
  fs.rmSync(lockPath, { force: true });
  return true;
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

function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
