/** The settings UI's file lookup: only known files, only inside their directory. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  findStaticFile,
  safeSegments,
  type StaticMount,
} from '../../src/engine/ui/static-files.js';

const root = mkdtempSync(join(tmpdir(), 'keygate-static-'));
const renderer = join(root, 'renderer');
const shared = join(root, 'shared');
mkdirSync(join(renderer, 'sections'), { recursive: true });
mkdirSync(shared);
writeFileSync(join(renderer, 'index.html'), '<!doctype html>');
writeFileSync(join(renderer, 'main.js'), '');
writeFileSync(join(renderer, 'sections', 'a.js'), '');
writeFileSync(join(renderer, 'notes.txt'), '');
writeFileSync(join(shared, 'api.js'), '');
writeFileSync(join(shared, 'api.js.map'), '');
writeFileSync(join(root, 'secret.js'), '');
symlinkSync(join(root, 'secret.js'), join(renderer, 'link.js'));
const mounts: StaticMount[] = [
  { prefix: '/shared/', dir: shared, extensions: ['.js'] },
  { prefix: '/', dir: renderer },
];

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('safeSegments', () => {
  it('refuses dot segments, encoded or not, backslashes, NUL and bad escapes', () => {
    for (const path of [
      '/../x',
      '/a/../x',
      '/%2e%2e/x',
      '/%2E%2e/x',
      '/..%2fx',
      '/./x',
      '/%2e/x',
      '/a\\b',
      '/a%5cb',
      '/a%00',
      '/%zz',
      '//x',
      'x',
    ]) {
      expect(safeSegments(path), path).toBeUndefined();
    }
    expect(safeSegments('/sections/a.js')).toEqual(['sections', 'a.js']);
    expect(safeSegments('/a%20b.js')).toEqual(['a b.js']);
  });
});

describe('findStaticFile', () => {
  it('finds the renderer’s files, and / is index.html', async () => {
    expect(await findStaticFile(mounts, '/')).toMatchObject({
      contentType: 'text/html; charset=utf-8',
    });
    expect((await findStaticFile(mounts, '/sections/a.js'))?.path).toBe(
      join(renderer, 'sections', 'a.js'),
    );
    expect((await findStaticFile(mounts, '/shared/api.js'))?.path).toBe(join(shared, 'api.js'));
  });

  it('serves nothing else: unknown types, maps from /shared/, directories, symlinks out', async () => {
    for (const path of [
      '/notes.txt',
      '/shared/api.js.map',
      '/sections',
      '/sections/',
      '/missing.js',
      '/link.js',
      '/../secret.js',
      '/shared/../secret.js',
      '/shared/%2e%2e/secret.js',
    ]) {
      expect(await findStaticFile(mounts, path), path).toBeUndefined();
    }
  });
});
