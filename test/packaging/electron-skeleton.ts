/**
 * A stand-in for Electron's macOS distribution, enough for electron-builder to assemble a
 * `--mac dir` app on Linux without downloading anything (docs/macos.md):
 * Electron.app/Contents/{Info.plist, MacOS/Electron, Frameworks/} and the four helper bundles,
 * each with its Info.plist and executable. The executables are placeholders; nothing runs them.
 * The framework binary carries Electron's fuse wire (the sentinel, version 1, the length, one byte
 * per fuse) with Electron's own defaults, so electron-builder's `electronFuses` has bytes to flip.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** @electron/fuses' SENTINEL: the wire follows it in `Electron Framework`. */
export const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** '1' on, '0' off, by FuseV1Options index, as Electron ships them. */
export const DEFAULT_FUSES = {
  runAsNode: '1',
  enableCookieEncryption: '0',
  enableNodeOptionsEnvironmentVariable: '1',
  enableNodeCliInspectArguments: '1',
  enableEmbeddedAsarIntegrityValidation: '0',
  onlyLoadAppFromAsar: '0',
  loadBrowserProcessSpecificV8Snapshot: '0',
  grantFileProtocolExtraPrivileges: '1',
} as const;
export const FUSE_NAMES = Object.keys(DEFAULT_FUSES) as Array<keyof typeof DEFAULT_FUSES>;
/** The framework binary, relative to `<App>.app/Contents`. */
export const FUSE_FILE = join('Frameworks', 'Electron Framework.framework', 'Electron Framework');

/** The fuse bytes after the sentinel in a framework binary, by name. */
export function readFuses(binary: Buffer): Record<string, string> {
  const at = binary.indexOf(FUSE_SENTINEL);
  if (at === -1) throw new Error('no fuse sentinel in the binary');
  const wire = at + FUSE_SENTINEL.length;
  const length = binary[wire + 1] ?? 0;
  return Object.fromEntries(
    FUSE_NAMES.slice(0, length).map((name, i) => [
      name,
      String.fromCharCode(binary[wire + 2 + i] ?? 0),
    ]),
  );
}

function fuseBinary(): Buffer {
  const values = Object.values(DEFAULT_FUSES).join('');
  return Buffer.concat([
    Buffer.from('placeholder for Electron Framework\n'),
    Buffer.from(FUSE_SENTINEL),
    Buffer.from([1, values.length]),
    Buffer.from(values),
    Buffer.from('\n'),
  ]);
}

export const HELPERS = ['', ' (GPU)', ' (Renderer)', ' (Plugin)'] as const;

function plist(entries: Record<string, string>): string {
  const body = Object.entries(entries)
    .map(([key, value]) => `    <key>${key}</key>\n    <string>${value}</string>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
  <dict>
${body}
  </dict>
</plist>
`;
}

function bundle(contents: string, executable: string, info: Record<string, string>): void {
  mkdirSync(join(contents, 'MacOS'), { recursive: true });
  writeFileSync(join(contents, 'Info.plist'), plist(info));
  const binary = join(contents, 'MacOS', executable);
  writeFileSync(binary, '#!/bin/sh\n# placeholder for the Electron binary\n');
  chmodSync(binary, 0o755);
}

/** Writes the skeleton into `dir` (the value for electronDist) and returns `dir`. */
export function writeElectronSkeleton(dir: string, electronVersion: string): string {
  const contents = join(dir, 'Electron.app', 'Contents');
  bundle(contents, 'Electron', {
    CFBundleDevelopmentRegion: 'en',
    CFBundleDisplayName: 'Electron',
    CFBundleExecutable: 'Electron',
    CFBundleIdentifier: 'com.github.Electron',
    CFBundleInfoDictionaryVersion: '6.0',
    CFBundleName: 'Electron',
    CFBundlePackageType: 'APPL',
    CFBundleShortVersionString: electronVersion,
    CFBundleVersion: electronVersion,
    LSMinimumSystemVersion: '12.0',
    NSPrincipalClass: 'AtomApplication',
  });
  mkdirSync(join(contents, 'Resources'), { recursive: true });
  const frameworks = join(contents, 'Frameworks');
  mkdirSync(join(frameworks, 'Electron Framework.framework'), { recursive: true });
  writeFileSync(join(contents, FUSE_FILE), fuseBinary());
  for (const suffix of HELPERS) {
    const name = `Electron Helper${suffix}`;
    bundle(join(frameworks, `${name}.app`, 'Contents'), name, {
      CFBundleDisplayName: name,
      CFBundleExecutable: name,
      CFBundleIdentifier: `com.github.Electron.helper${suffix ? `.${suffix.slice(2, -1)}` : ''}`,
      CFBundleName: name,
      CFBundlePackageType: 'APPL',
      CFBundleShortVersionString: electronVersion,
      CFBundleVersion: electronVersion,
    });
  }
  return dir;
}
