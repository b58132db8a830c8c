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
 * The symlink's target is `<pid>.<n>`, `n` counting this process's acquisitions: a section
 * releases only the lock it made, never a successor's that took it over as stale. Taking over is
 * itself serialised by a guard (`<name>.lock.break`, held for microseconds), and an entry judged
 * stale is moved aside before it is deleted, so that nothing made since is: two processes that
 * both find one dead owner's lock cannot both remove it, the second removing the first's new lock.
 *
 * Any local process (an agent included) can plant something at the lock's path. Whatever is
 * there, an attempt ends within the wait: the path is looked at with lstat, a symlink is read
 * with readlink (never followed) and a file with O_NOFOLLOW | O_NONBLOCK, so a FIFO or a device
 * is never blocked on. A symlink whose target is not a pid (dangling or not), a FIFO, a socket or
 * a device is removed and taken over; a directory is reported (`failed`), never removed. A lock
 * dated in the future (planted with `touch -h`) is stale, so its age cannot hold it forever.
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

/**
 * `staleMs` is longer than the wait on purpose: a process frozen while it holds a lock (its own
 * synchronous settings wait blocks its event loop for up to `waitMs`) must not look stale to
 * others, who would then enter beside it. The cost: a fresh lock naming a live process that is
 * not working under it (planted with pid 1, a reused pid) fails writers with the caller's
 * `held` error until it is `staleMs` old.
 */
const DEFAULTS = { staleMs: 10_000, waitMs: 5_000, pollMs: 5 };
/**
 * A regular-file lock with no pid in it is a maker between its O_EXCL open and its write
 * (microseconds), or one killed there. After this long it is the second, and taken over. Three
 * seconds, not one: FAT keeps mtimes to 2 s and HFS+ to 1 s, so a fresh entry can read as a
 * second old at once.
 */
const NO_PID_GRACE_MS = 3_000;
/** Clocks of processes on one machine agree; a lock dated later than this ahead was planted. */
const FUTURE_SKEW_MS = 3_000;
const LOCK_FILE_MODE = 0o600;

/** The targets of the locks this process holds now, to tell its own from a previous pid owner's. */
const heldTokens = new Set<string>();
let acquisitions = 0;

export function withFileLockSync<T>(lockPath: string, options: FileLockOptions, fn: () => T): T {
  const { waitMs, pollMs } = { ...DEFAULTS, ...options };
  const deadline = Date.now() + waitMs;
  let token: string | undefined;
  while ((token = tryAcquire(lockPath, options)) === undefined) {
    if (Date.now() > deadline) throw options.error('held');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pollMs);
  }
  try {
    return fn();
  } finally {
    release(lockPath, token, options);
  }
}

export async function withFileLock<T>(
  lockPath: string,
  options: FileLockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const { waitMs, pollMs } = { ...DEFAULTS, ...options };
  const deadline = Date.now() + waitMs;
  let token: string | undefined;
  while ((token = tryAcquire(lockPath, options)) === undefined) {
    if (Date.now() > deadline) throw options.error('held');
    await sleep(pollMs);
  }
  try {
    return await fn();
  } finally {
    release(lockPath, token, options);
  }
}

/**
 * Removes the lock if it is still the one this section made. A holder that ran past `staleMs`
 * (stopped in a debugger, SIGSTOP) may have been taken over; the lock at the path is then its
 * successor's (in another process or this one), and removing it would let a third in.
 */
function release(lockPath: string, token: string, options: FileLockOptions): void {
  heldTokens.delete(token);
  try {
    const found = readLock(lockPath, options);
    if (found !== 'gone' && found.token === token) fs.unlinkSync(lockPath);
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
/** A token is at most 10 + 1 + 16 characters; reading more would let a planted huge file cost memory. */
const MAX_LOCK_BYTES = 32;

/** This process's token when it now holds the lock; undefined when another holder does. */
function tryAcquire(lockPath: string, options: FileLockOptions): string | undefined {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const token = `${process.pid}.${++acquisitions}`;
    try {
      createLock(lockPath, token);
      heldTokens.add(token);
      return token;
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw options.error('failed', error);
      if (!removeStaleLock(lockPath, options)) return undefined;
    }
  }
  return undefined;
}

/** Codes of a filesystem that cannot hold symlinks (FAT and exFAT volumes, some network shares). */
const NO_SYMLINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * The lock as a symlink to `token`; where the filesystem has no symlinks, as Mercurial does, a
 * file created with O_EXCL and then given the token (a kill between the two leaves a lock with no
 * pid, taken over after NO_PID_GRACE_MS). Throws EEXIST when a lock is there.
 */
function createLock(lockPath: string, token: string): void {
  try {
    fs.symlinkSync(token, lockPath);
    return;
  } catch (error) {
    if (!NO_SYMLINKS.has(errnoCode(error) ?? '')) throw error;
  }
  const fd = fs.openSync(lockPath, 'wx', LOCK_FILE_MODE);
  try {
    fs.writeSync(fd, token);
  } finally {
    fs.closeSync(fd);
  }
}

/** True when the lock was gone or has been removed as stale (try again); false when it is held. */
function removeStaleLock(lockPath: string, options: FileLockOptions): boolean {
  const found = readLock(lockPath, options);
  // Released between our attempt and this read: try again at once.
  if (found === 'gone') return true;
  if (!isStale(found, options.staleMs ?? DEFAULTS.staleMs)) return false;
  return removeUnderGuard(lockPath, found, options);
}

function isStale(found: FoundLock, staleMs: number): boolean {
  if (found.owner === undefined) return true;
  if (found.age < -FUTURE_SKEW_MS) return true;
  if (Number.isNaN(found.owner)) return found.age >= Math.min(staleMs, NO_PID_GRACE_MS);
  if (found.age >= staleMs) return true;
  // Our own pid on a lock this process does not hold: left by an earlier process with our pid.
  if (found.owner === process.pid) return !heldTokens.has(found.token);
  return !processAlive(found.owner);
}

/**
 * Removes `judged`, unless the lock at the path is no longer it: another process may have removed
 * it and made its own since we read it. The guard makes the re-read and the unlink one step
 * against other takers-over. False when another process holds the guard (we retry on the next poll).
 */
function removeUnderGuard(lockPath: string, judged: FoundLock, options: FileLockOptions): boolean {
  const guardPath = `${lockPath}.break`;
  const guard = `${process.pid}.${++acquisitions}`;
  try {
    createLock(guardPath, guard);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw options.error('failed', error);
    removeStaleGuard(guardPath, options);
    return false;
  }
  try {
    const current = readLock(lockPath, options);
    if (current === 'gone') return true;
    if (!sameEntry(current, judged)) return true;
    removeIfSame(lockPath, judged, options);
    return true;
  } finally {
    // Like any lock: only if it is still ours; one left behind is the next taker-over's to remove.
    release(guardPath, guard, options);
  }
}

const sameEntry = (a: FoundLock, b: FoundLock) => a.id === b.id && a.token === b.token;

/**
 * Removes the entry at `path` only if it is still `judged`. A check and then an unlink by path
 * would delete whatever was made there in between (the owner releasing and another process
 * locking): the entry is moved aside first (rename is atomic), looked at there, and deleted, or
 * put back when it is a newer one. Its owner's release compares tokens, so a lock put back is
 * still its own.
 */
function removeIfSame(path: string, judged: FoundLock, options: FileLockOptions): void {
  const aside = `${path}.${process.pid}.${++acquisitions}.stale`;
  try {
    fs.renameSync(path, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw options.error('failed', error);
  }
  const stat = fs.lstatSync(aside, { throwIfNoEntry: false });
  if (stat?.isDirectory()) {
    // Swapped in since it was judged: put back where it was found, never removed.
    try {
      fs.renameSync(aside, path);
    } catch (error) {
      throw options.error('failed', error);
    }
    return;
  }
  const moved = readLock(aside, options);
  if (moved !== 'gone' && !sameEntry(moved, judged) && moved.owner !== undefined) {
    try {
      if (stat?.isSymbolicLink()) fs.symlinkSync(moved.token, path);
      // A regular file: hard-linked back (it is no symlink, so link(2) follows nothing).
      else fs.linkSync(aside, path);
    } catch {
      // Something was made at the path meanwhile: that newer lock stands; this one is lost and
      // its owner's section runs beside it (a window of microseconds, two processes wide).
    }
  }
  unlinkIfThere(aside, options);
}

/**
 * A guard is judged like a lock (`isStale`): a live taker-over is waited for however long it
 * pauses, under `staleMs`, since removing its guard would let a second taker in beside it. A guard
 * naming this process is always a leftover: this process holds its own only inside one
 * synchronous call.
 */
function removeStaleGuard(guardPath: string, options: FileLockOptions): void {
  const found = readLock(guardPath, options);
  if (found !== 'gone' && isStale(found, options.staleMs ?? DEFAULTS.staleMs))
    removeIfSame(guardPath, found, options);
}

function unlinkIfThere(path: string, options: FileLockOptions): void {
  try {
    // unlink, not rm: removes a symlink itself, never what it points to, and never recurses.
    fs.unlinkSync(path);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw options.error('failed', error);
  }
}

/** What a lock's token is: `<pid>.<n>` (a bare pid: an older Keygate's). */
const TOKEN = /^([1-9][0-9]{0,9})(?:\.[0-9]{1,16})?$/;

/**
 * What is at a lock path. `owner` is the pid in its token (NaN for a file with none yet), or
 * undefined for something that is no lock of ours (a symlink whose target is no token, a FIFO, a
 * socket, a device); `id` tells one entry from another made later at the same path.
 */
interface FoundLock {
  readonly token: string;
  readonly owner: number | undefined;
  readonly age: number;
  readonly id: string;
}

/**
 * The lock at `lockPath`, or `gone` when nothing is there. A directory cannot be taken over by
 * unlinking and might hold someone's files, so it is reported.
 */
function readLock(lockPath: string, options: FileLockOptions): FoundLock | 'gone' {
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
  const found = (token: string, owner: number | undefined, at: fs.Stats): FoundLock => ({
    token,
    owner,
    age: Date.now() - at.mtimeMs,
    // Not the inode: some filesystems (FAT through FUSE) renumber an entry when it is renamed.
    id: `${at.dev}:${at.mtimeMs}`,
  });
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
    const pid = TOKEN.exec(target)?.[1];
    return found(target, pid === undefined ? undefined : Number(pid), stat);
  }
  if (!stat.isFile()) return found('', undefined, stat);
  let fd: number;
  try {
    // Swapped for a symlink or FIFO since the lstat: ELOOP / no blocking, instead of following it.
    fd = fs.openSync(
      lockPath,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return 'gone';
    if (errnoCode(error) === 'ELOOP') return found('', undefined, stat);
    throw options.error('failed', error);
  }
  try {
    const opened = fs.fstatSync(fd);
    if (!opened.isFile()) return found('', undefined, opened);
    const buffer = Buffer.alloc(MAX_LOCK_BYTES);
    const token = buffer.toString('utf8', 0, fs.readSync(fd, buffer, 0, MAX_LOCK_BYTES, 0));
    const pid = TOKEN.exec(token)?.[1];
    // A file with no token yet (its maker between open and write), or garbage: NaN, not a pid.
    return found(token, pid === undefined ? Number.NaN : Number(pid), opened);
  } catch (error) {
    throw options.error('failed', error);
  } finally {
    fs.closeSync(fd);
  }
}
