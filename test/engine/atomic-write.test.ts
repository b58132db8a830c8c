import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync } from '../../src/engine/atomic-write.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-atomic-');

const forms = {
  sync: (path: string, data: string, mode: number) =>
    Promise.resolve().then(() => writeFileAtomicSync(path, data, mode)),
  async: writeFileAtomic,
};

describe.each(Object.entries(forms))('writeFileAtomic (%s)', (_name, write) => {
  it('replaces the file whole, with exactly the mode asked for, whatever the umask', async () => {
    const dir = tempDir();
    const path = join(dir, 'file');
    writeFileSync(path, 'old', { mode: 0o600 });
    const umask = process.umask(0o077);
    try {
      await write(path, 'new contents', 0o644);
    } finally {
      process.umask(umask);
    }
    expect(readFileSync(path, 'utf8')).toBe('new contents');
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(['file']);
  });

  it('on failure leaves the old file untouched, no temporary file, and the error as it came', async () => {
    const dir = tempDir();
    // A directory where the file should go: the final rename fails (EISDIR), after the write.
    const path = join(dir, 'in-the-way');
    mkdirSync(path);
    writeFileSync(join(path, 'kept'), 'old');
    await expect(write(path, 'new', 0o600)).rejects.toMatchObject({ code: 'EISDIR' });
    expect(readdirSync(dir)).toEqual(['in-the-way']);
    expect(readFileSync(join(path, 'kept'), 'utf8')).toBe('old');
  });

  it('gives concurrent writers their own temporary files', async () => {
    const dir = tempDir();
    const path = join(dir, 'file');
    await Promise.all(Array.from({ length: 8 }, (_, i) => write(path, `writer ${i}`, 0o600)));
    expect(readFileSync(path, 'utf8')).toMatch(/^writer \d$/);
    expect(readdirSync(dir)).toEqual(['file']);
  });
});
