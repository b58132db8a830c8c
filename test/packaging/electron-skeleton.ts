/**
 * A stand-in for Electron's macOS distribution, enough for electron-builder to assemble a
 * `--mac dir` app on Linux without downloading anything (DESIGN.md, "Electron facts"):
 * Electron.app/Contents/{Info.plist, MacOS/Electron, Frameworks/} and the four helper bundles,
 * each with its Info.plist and executable. The executables are placeholders; nothing runs them.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
