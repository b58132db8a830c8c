/**
 * The app's logic lives outside the shell, in src/engine/desktop and src/engine/supervisor, and
 * runs in plain Node (tests import it), so nothing it imports may load `electron` or
 * `electron-store`: their packages would try to find, or download, the Electron binary. This
 * reads the compiled JavaScript, following every relative import.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/keygate-process.js';

const PURE = ['desktop', 'supervisor'].flatMap((dir) =>
  readdirSync(join(REPO_ROOT, 'dist', 'engine', dir))
    .filter((name) => name.endsWith('.js'))
    .map((name) => `${dir}/${name.slice(0, -'.js'.length)}`),
);

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;

function specifiers(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4] ?? '');
}

/** Every bare specifier reachable from `entry` through relative imports. */
function reachableBareImports(entry: string): Map<string, string> {
  const seen = new Set<string>();
  const bare = new Map<string, string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of specifiers(file)) {
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
      else bare.set(spec, relative(REPO_ROOT, file));
    }
  }
  return bare;
}

describe('the compiled app logic outside the shell', () => {
  it('covers the moved modules', () => {
    expect(PURE).toEqual(
      expect.arrayContaining(['desktop/tray-menu-model', 'supervisor/engine-supervisor']),
    );
  });

  it.each(PURE)('dist/engine/%s.js reaches no electron import', (name) => {
    const bare = reachableBareImports(join(REPO_ROOT, 'dist', 'engine', `${name}.js`));
    const electron = [...bare].filter(
      ([spec]) => spec === 'electron' || spec.startsWith('electron/'),
    );
    expect(electron).toEqual([]);
    expect(bare.has('electron-store')).toBe(false);
  });

  it('the scanner does see electron where it is imported (main.js, engine.js)', () => {
    expect(reachableBareImports(join(REPO_ROOT, 'dist', 'main', 'main.js')).has('electron')).toBe(
      true,
    );
    const host = reachableBareImports(join(REPO_ROOT, 'dist', 'main', 'engine.js'));
    expect(host.has('electron')).toBe(true);
    expect(host.has('electron-store')).toBe(true);
  });
});
