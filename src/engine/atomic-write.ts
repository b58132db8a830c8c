/**
 * Write-then-rename: the one way Keygate replaces a file (settings, the token, the CA, the CA
 * bundle, serve.json). A crash or a full disk leaves the old file or the new one, never half of
 * either. The temp file is unique per call (two writers in one process must not share one), is
 * created with O_EXCL and given its final mode before the first byte (a key is never readable by
 * others, not even for an instant, whatever the umask), is fsynced before the rename, and is
 * removed if anything fails. Errors are rethrown as they came; callers add their own context.
 */
import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';

function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(8).toString('hex')}`;
}

export function writeFileAtomicSync(path: string, data: string | Buffer, mode: number): void {
  const temp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, 'wx', mode);
    fs.fchmodSync(fd, mode);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, path);
  } catch (error) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // The write's error is the one worth reporting.
      }
    }
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

export async function writeFileAtomic(
  path: string,
  data: string | Buffer,
  mode: number,
): Promise<void> {
  const temp = tempPathFor(path);
  try {
    const handle = await fsp.open(temp, 'wx', mode);
    try {
      await handle.chmod(mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, path);
  } catch (error) {
    await fsp.rm(temp, { force: true }).catch(() => {
      // Best effort: the write already failed, and that is the error worth reporting.
    });
    throw error;
  }
}
