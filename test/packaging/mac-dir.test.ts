/**
 * Packages the app as electron-builder does for macOS (`--mac dir`), on Linux, offline: the
 * Electron binary comes from a generated skeleton (electron-skeleton.ts) passed as electronDist,
 * signing is off (identity null), and nothing is rebuilt or downloaded (npmRebuild: false in
 * electron-builder.yml). Then reads what came out: the Info.plists and app.asar.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractFile, listPackage } from '@electron/asar';
import { build } from 'electron-builder';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/keygate-process.js';
import {
  DEFAULT_FUSES,
  FUSE_FILE,
  HELPERS,
  readFuses,
  writeElectronSkeleton,
} from './electron-skeleton.js';

const ELECTRON_VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/electron/package.json'), 'utf8')) as {
    version: string;
  }
).version;

/** A top-level `<key>` of a plist and the element after it (string, true or false). */
function plistValue(xml: string, key: string): string | boolean | undefined {
  const match = new RegExp(
    `<key>${key}</key>\\s*(?:<string>([^<]*)</string>|<(true|false)\\s*/>)`,
  ).exec(xml);
  if (!match) return undefined;
  return match[1] ?? match[2] === 'true';
}

const work = mkdtempSync(join(tmpdir(), 'keygate-mac-dir-'));
let app: string;
let asarFiles: string[];

beforeAll(async () => {
  const electronDist = writeElectronSkeleton(join(work, 'electron'), ELECTRON_VERSION);
  const output = join(work, 'release');
  await build({
    // The repository itself: electron-builder asks `npm ls` for the production tree, which only
    // answers correctly from the real project (a copy with node_modules symlinked in made npm
    // report packages as extraneous, and they were silently left out of app.asar).
    projectDir: REPO_ROOT,
    mac: ['dir'],
    x64: true,
    publish: 'never',
    config: {
      electronDist,
      directories: { output },
      mac: { identity: null },
    },
  });
  app = join(output, 'mac', 'Keygate.app');
  asarFiles = listPackage(join(app, 'Contents', 'Resources', 'app.asar'), {
    isPack: false,
  }).map((file) => file.replaceAll('\\', '/'));
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('Keygate.app (--mac dir, offline, from a skeleton)', () => {
  it('carries the stable bundle id, the product name and LSUIElement', () => {
    const info = readFileSync(join(app, 'Contents', 'Info.plist'), 'utf8');
    expect(plistValue(info, 'CFBundleIdentifier')).toBe('dev.keygate.app');
    expect(plistValue(info, 'CFBundleName')).toBe('Keygate');
    expect(plistValue(info, 'CFBundleDisplayName')).toBe('Keygate');
    expect(plistValue(info, 'CFBundleExecutable')).toBe('Keygate');
    expect(plistValue(info, 'LSUIElement')).toBe(true);
    expect(plistValue(info, 'CFBundleShortVersionString')).toBe(
      (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
        .version,
    );
    expect(statSync(join(app, 'Contents', 'MacOS', 'Keygate')).isFile()).toBe(true);
  });

  it.each(HELPERS)('renames helper "Electron Helper%s" with a derived bundle id', (suffix) => {
    const name = `Keygate Helper${suffix}`;
    const contents = join(app, 'Contents', 'Frameworks', `${name}.app`, 'Contents');
    const info = readFileSync(join(contents, 'Info.plist'), 'utf8');
    // What electron-builder derives from appId: `<appId>.helper`, then `.GPU` etc. (the
    // parentheses are not valid in a bundle id and are dropped).
    const id = `dev.keygate.app.helper${suffix ? `.${suffix.slice(2, -1)}` : ''}`;
    expect(plistValue(info, 'CFBundleIdentifier')).toBe(id);
    expect(plistValue(info, 'CFBundleExecutable')).toBe(name);
    expect(existsSync(join(contents, 'MacOS', name))).toBe(true);
  });

  it('packs the main entry, the preload and package.json into app.asar', () => {
    expect(asarFiles).toContain('/dist/main/main.js');
    expect(asarFiles).toContain('/dist/preload/preload.cjs');
    expect(asarFiles).toContain('/package.json');
    const raw = extractFile(join(app, 'Contents', 'Resources', 'app.asar'), 'package.json');
    const pkg = JSON.parse(raw.toString()) as { main: string };
    expect(pkg.main).toBe('dist/main/main.js');
  });

  it("keeps the 1Password SDK's WASM inside the archive (read through Electron's asar fs)", () => {
    expect(asarFiles).toContain('/node_modules/@1password/sdk-core/nodejs/core_bg.wasm');
    expect(existsSync(join(app, 'Contents', 'Resources', 'app.asar.unpacked'))).toBe(false);
  });

  it('ships production code only: no sources, tests, source maps or dev dependencies', () => {
    const offenders = asarFiles.filter(
      (file) =>
        /^\/(src|test|bench|scripts|build)\//.test(file) ||
        (file.startsWith('/dist/') && file.endsWith('.map')) ||
        /^\/node_modules\/(electron|electron-builder|vitest|typescript|playwright-core)\//.test(
          file,
        ),
    );
    expect(offenders).toEqual([]);
  });

  it('flips the fuses: no run-as-node, inspect or NODE_OPTIONS; code from the checked asar only', () => {
    const fuses = readFuses(readFileSync(join(app, 'Contents', FUSE_FILE)));
    expect(fuses).toEqual({
      ...DEFAULT_FUSES,
      runAsNode: '0',
      enableNodeOptionsEnvironmentVariable: '0',
      enableNodeCliInspectArguments: '0',
      enableEmbeddedAsarIntegrityValidation: '1',
      onlyLoadAppFromAsar: '1',
    });
  });

  it('puts the tray template icons in Contents/Resources/tray', () => {
    for (const name of ['trayTemplate', 'trayOffTemplate', 'trayErrorTemplate']) {
      for (const suffix of ['', '@2x']) {
        expect(existsSync(join(app, 'Contents', 'Resources', 'tray', `${name}${suffix}.png`))).toBe(
          true,
        );
      }
    }
  });
});
