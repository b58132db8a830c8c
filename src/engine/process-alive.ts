/**
 * Whether a process with this pid exists: what a lock file's or serve.json's owner is checked
 * with. Signal 0 checks without signalling; EPERM means it exists but belongs to another user.
 * A pid the system has reused for another process reads as alive: callers bound how long that
 * can matter (a lock is stale after 10 s whatever its owner).
 */
import { errnoCode } from './errors.js';

export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}
