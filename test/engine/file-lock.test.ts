import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import {
  existsSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import {
  withFileLock,
  withFileLockSync,
  type FileLockOptions,
} from '../../src/engine/file-lock.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-lock-');
function lockPath(): string {
  return join(tempDir(), 'thing.lock');
}

/** Whether anything is at `path`: existsSync follows a symlink, and a lock is a dangling one. */
const present = (path: string) => lstatSync(path, { throwIfNoEntry: false }) !== undefined;

class HeldError extends Error {}
const options = (extra: Partial<FileLockOptions> = {}): FileLockOptions => ({
  waitMs: 300,
  error: (reason, cause) =>
    reason === 'held' ? new HeldError('held') : new Error('failed', { cause }),
  ...extra,
});

/** The pid of a process that has exited: what a lock left by a killed Keygate holds. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

/** A lock as Keygate makes it (a symlink to the pid) and as an older Keygate made it (a file). */
const LOCK_FORMS = {
  symlink: (path: string, pid: number) => symlinkSync(String(pid), path),
  file: (path: string, pid: number) => writeFileSync(path, String(pid)),
} as const;
const lockForms = Object.entries(LOCK_FORMS);

describe('withFileLock', () => {
  it('makes the lock in one step, holding its pid: a symlink whose target is `<pid>.<n>`', () => {
    const path = lockPath();
    const seen = withFileLockSync(path, options(), () => ({
      symlink: lstatSync(path).isSymbolicLink(),
      target: readlinkSync(path),
    }));
    expect(seen.symlink).toBe(true);
    expect(seen.target).toMatch(new RegExp(`^${process.pid}\\.\\d+$`));
    expect(present(path)).toBe(false);
  });

  it('runs one holder at a time: overlapping async sections never interleave', async () => {
    const path = lockPath();
    const events: string[] = [];
    const section = (name: string) =>
      withFileLock(path, options({ pollMs: 1 }), async () => {
        events.push(`${name}:in`);
        await sleep(15);
        events.push(`${name}:out`);
      });
    await Promise.all(['a', 'b', 'c'].map(section));
    for (let i = 0; i < events.length; i += 2)
      expect(events[i + 1]).toBe(events[i]?.replace(':in', ':out'));
    expect(present(path)).toBe(false);
  });

  it('releases the lock when the section throws, and passes the error on', async () => {
    const path = lockPath();
    await expect(
      withFileLock(path, options(), () => Promise.reject(new Error('boom'))),
    ).rejects.toThrow('boom');
    expect(present(path)).toBe(false);
    expect(() => withFileLockSync(path, options(), () => 'again')).not.toThrow();
  });

  it('leaves a lock it no longer owns: one taken over while it ran past staleMs', async () => {
    const path = lockPath();
    const successor = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    try {
      await withFileLock(path, options(), async () => {
        // What a process that found this lock stale does: remove it and make its own.
        rmSync(path);
        symlinkSync(String(successor.pid), path);
      });
      expect(readlinkSync(path)).toBe(String(successor.pid));
    } finally {
      successor.kill();
    }
  });

  it('takes over a lock dated in the future, whoever it names (planted with touch -h)', () => {
    const path = lockPath();
    symlinkSync('1', path);
    const later = new Date(Date.now() + 3_600_000);
    lutimesSync(path, later, later);
    expect(withFileLockSync(path, options(), () => 'ran')).toBe('ran');
  });

  it('takes over at once a lock naming this pid that this process does not hold (an earlier process’s)', () => {
    for (const target of [`${process.pid}.999999`, String(process.pid)]) {
      const path = lockPath();
      symlinkSync(target, path);
      expect(withFileLockSync(path, options({ waitMs: 50 }), () => 'ran')).toBe('ran');
    }
  });

  it('in one process too, a section that ran past staleMs leaves its successor’s lock alone', async () => {
    const path = lockPath();
    const events: string[] = [];
    const section = (name: string, ms: number) =>
      withFileLock(path, options({ staleMs: 200, waitMs: 2_000 }), async () => {
        events.push(`${name} in`);
        await sleep(ms);
        events.push(`${name} out`);
      });
    // A outlives staleMs and is taken over by B at ~220 ms; A leaves at 300 while B (150 ms,
    // within staleMs) is inside until ~370; C asks at 320.
    await Promise.all([
      section('A', 300),
      sleep(220).then(() => section('B', 150)),
      sleep(320).then(() => section('C', 10)),
    ]);
    // B took A over as stale; A's release must not have let C in beside B.
    expect(events).toEqual(['A in', 'B in', 'A out', 'B out', 'C in', 'C out']);
  });

  it('takes a stale lock over only under the takeover guard, and a dead taker’s guard goes', () => {
    const path = lockPath();
    symlinkSync(`${deadPid()}.1`, path);
    // Another process is taking it over right now: we wait rather than race it.
    symlinkSync(`${process.ppid}.1`, `${path}.break`);
    expect(() => withFileLockSync(path, options({ waitMs: 100 }), () => 1)).toThrow(HeldError);
    expect(readlinkSync(path)).toMatch(/\.1$/);
    // That taker died: its guard is removed and the lock taken over.
    rmSync(`${path}.break`);
    symlinkSync(`${deadPid()}.1`, `${path}.break`);
    expect(withFileLockSync(path, options(), () => 'ran')).toBe('ran');
    expect(present(`${path}.break`)).toBe(false);
  });

  it('puts back a lock made between its judging and its removal (the owner released, another locked)', () => {
    const path = lockPath();
    symlinkSync(`${deadPid()}.1`, path);
    const successor = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    const rename = fs.renameSync.bind(fs);
    // Just before the stale lock is moved aside, it is gone and a live process's lock is there.
    const swap = vi.spyOn(fs, 'renameSync').mockImplementationOnce((from, to) => {
      fs.unlinkSync(from);
      fs.symlinkSync(`${successor.pid}.9`, from);
      rename(from, to);
    });
    try {
      expect(() => withFileLockSync(path, options({ waitMs: 100 }), () => 1)).toThrow(HeldError);
      expect(readlinkSync(path)).toBe(`${successor.pid}.9`);
      expect(swap).toHaveBeenCalled();
    } finally {
      swap.mockRestore();
      successor.kill();
    }
  });

  it('on a filesystem without symlinks (FAT, exFAT), makes a pid file instead', async () => {
    // No such volume can be mounted here; the filesystem's answer is the edge that is faked.
    const noSymlinks = vi.spyOn(fs, 'symlinkSync').mockImplementation(() => {
      throw Object.assign(new Error('EPERM: operation not permitted, symlink'), { code: 'EPERM' });
    });
    try {
      const path = lockPath();
      const seen = withFileLockSync(path, options(), () => ({
        file: lstatSync(path).isFile(),
        pid: readFileSync(path, 'utf8'),
        mode: lstatSync(path).mode & 0o777,
        second: (() => {
          try {
            return withFileLockSync(path, options({ waitMs: 20 }), () => 'ran');
          } catch (error) {
            return error;
          }
        })(),
      }));
      expect(seen).toMatchObject({ file: true, mode: 0o600 });
      expect(seen.pid).toMatch(new RegExp(`^${process.pid}\\.\\d+$`));
      expect(seen.second).toBeInstanceOf(HeldError);
      expect(present(path)).toBe(false);
      expect(noSymlinks).toHaveBeenCalled();
    } finally {
      noSymlinks.mockRestore();
    }
  });

  it('reports any other failure to make the lock with the caller’s error', () => {
    const denied = vi.spyOn(fs, 'symlinkSync').mockImplementation(() => {
      throw Object.assign(new Error('EACCES: permission denied, symlink'), { code: 'EACCES' });
    });
    try {
      expect(() => withFileLockSync(lockPath(), options(), () => 1)).toThrow('failed');
    } finally {
      denied.mockRestore();
    }
  });

  it.each(lockForms)('takes over a lock (%s) whose owner died', async (_, plant) => {
    const path = lockPath();
    plant(path, deadPid());
    expect(await withFileLock(path, options(), () => Promise.resolve('ran'))).toBe('ran');
    plant(path, deadPid());
    expect(withFileLockSync(path, options(), () => 'ran too')).toBe('ran too');
  });

  it.each(lockForms)('waits for a live owner (%s), then names the wait', async (_, plant) => {
    const path = lockPath();
    const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    try {
      plant(path, owner.pid ?? 0);
      const started = Date.now();
      await expect(withFileLock(path, options(), () => Promise.resolve())).rejects.toBeInstanceOf(
        HeldError,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(() => withFileLockSync(path, options({ waitMs: 50 }), () => 1)).toThrow(HeldError);
      expect(present(path)).toBe(true); // not ours to remove
    } finally {
      owner.kill();
    }
  });

  it.each(lockForms)(
    'takes over a live owner’s lock (%s) once it is older than staleMs (a hung process)',
    async (_, plant) => {
      const path = lockPath();
      plant(path, process.pid);
      const old = new Date(Date.now() - 60_000);
      lutimesSync(path, old, old);
      const ran = await withFileLock(path, options({ staleMs: 1_000 }), () => Promise.resolve(2));
      expect(ran).toBe(2);
    },
  );

  it('does not take over a fresh lock file that has no pid written yet (an older Keygate)', () => {
    const path = lockPath();
    writeFileSync(path, '');
    expect(() => withFileLockSync(path, options({ waitMs: 50 }), () => 1)).toThrow(HeldError);
  });

  it('takes over a lock file seconds old with no pid (its maker was killed before writing it)', () => {
    // Held every writer for `staleMs` (10 s), longer than their wait (5 s).
    const path = lockPath();
    writeFileSync(path, '');
    const old = new Date(Date.now() - 4_000);
    utimesSync(path, old, old);
    expect(withFileLockSync(path, options(), () => 'ran')).toBe('ran');
  });

  it('reports a lock file it cannot create with the caller’s error and the cause', () => {
    const path = join(lockPath(), 'missing-dir', 'x.lock');
    let thrown: unknown;
    try {
      withFileLockSync(path, options(), () => 1);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toBe('failed');
    expect((thrown as Error).cause).toMatchObject({ code: 'ENOENT' });
  });

  describe('something planted at the lock path (any local process can)', () => {
    /** Runs `fn` and returns what it cost: a spin shows as CPU time close to the wall time. */
    async function cost<T>(
      fn: () => Promise<T> | T,
    ): Promise<{ value: T; wallMs: number; cpuMs: number }> {
      const wall = Date.now();
      const cpu = process.cpuUsage();
      const value = await fn();
      const used = process.cpuUsage(cpu);
      return { value, wallMs: Date.now() - wall, cpuMs: (used.user + used.system) / 1000 };
    }

    it('takes over a dangling symlink at once, without spinning (both forms)', async () => {
      const path = lockPath();
      symlinkSync(join(tempDir(), 'nowhere'), path);
      const sync = await cost(() => withFileLockSync(path, options(), () => 'sync'));
      expect(sync.value).toBe('sync');
      symlinkSync(join(tempDir(), 'nowhere'), path);
      const async = await cost(() => withFileLock(path, options(), () => Promise.resolve('async')));
      expect(async.value).toBe('async');
      for (const run of [sync, async]) {
        expect(run.wallMs).toBeLessThan(200);
        expect(run.cpuMs).toBeLessThan(200);
      }
      expect(present(path)).toBe(false);
    });

    it('removes a symlink to a real file without touching the file it points to', () => {
      const path = lockPath();
      const victim = join(tempDir(), 'victim.txt');
      writeFileSync(victim, 'keep me');
      symlinkSync(victim, path);
      // Replaced by the lock itself: a symlink to this process's pid, not to the victim.
      expect(withFileLockSync(path, options(), () => readlinkSync(path))).toMatch(
        new RegExp(`^${process.pid}\\.\\d+$`),
      );
      expect(readFileSync(victim, 'utf8')).toBe('keep me');
    });

    it('takes over a FIFO without blocking on it', async () => {
      const path = lockPath();
      expect(spawnSync('mkfifo', [path]).status).toBe(0);
      const run = await cost(() => withFileLock(path, options(), () => Promise.resolve('ran')));
      expect(run.value).toBe('ran');
      expect(run.wallMs).toBeLessThan(200);
    });

    it('reports a directory at the lock path within the wait, and leaves it alone', async () => {
      const path = lockPath();
      mkdirSync(path);
      writeFileSync(join(path, 'inside'), 'x');
      let thrown: unknown;
      const run = await cost(async () => {
        try {
          await withFileLock(path, options(), () => Promise.resolve());
        } catch (error) {
          thrown = error;
        }
      });
      expect((thrown as Error).message).toBe('failed');
      expect(String((thrown as Error).cause)).toContain('is a directory');
      expect(run.wallMs).toBeLessThan(300);
      expect(existsSync(join(path, 'inside'))).toBe(true);
    });

    it('waits out a huge garbage lock like a held one, and cheaply', async () => {
      const path = lockPath();
      writeFileSync(path, 'x'.repeat(1 << 20));
      const run = await cost(async () => {
        await expect(withFileLock(path, options(), () => Promise.resolve())).rejects.toBeInstanceOf(
          HeldError,
        );
      });
      expect(run.wallMs).toBeLessThan(1_000);
      expect(run.cpuMs).toBeLessThan(run.wallMs / 2);
    });
  });
});
