/**
 * The pure modules of src/main run in plain Node (these tests import them), so neither they nor
 * anything they import may load `electron`: its package would try to find, or download, the
 * Electron binary. Type imports are fine; this reads the compiled JavaScript to prove they were
 * erased, following every relative import.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/keygate-process.js';

const PURE = [
  'agent-setup',
  'app-handlers',
  'app-paths',
  'ipc-table',
  'navigation',
  'permissions',
  'renderer-files',
  'safe-storage-token-store',
  'tray-menu-model',
  'window-options',
];

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

describe('compiled pure modules of src/main', () => {
  it.each(PURE)('dist/main/%s.js reaches no electron import', (name) => {
    const bare = reachableBareImports(join(REPO_ROOT, 'dist', 'main', `${name}.js`));
    const electron = [...bare].filter(
      ([spec]) => spec === 'electron' || spec.startsWith('electron/'),
    );
    expect(electron).toEqual([]);
    expect(bare.has('electron-store')).toBe(false);
  });

  it('the scanner does see electron where it is imported (main.js, engine-host.js)', () => {
    expect(reachableBareImports(join(REPO_ROOT, 'dist', 'main', 'main.js')).has('electron')).toBe(
      true,
    );
    const host = reachableBareImports(join(REPO_ROOT, 'dist', 'main', 'engine-host.js'));
    expect(host.has('electron')).toBe(true);
    expect(host.has('electron-store')).toBe(true);
  });
});
