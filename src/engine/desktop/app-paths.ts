/**
 * Where the app finds its own files, in development (`npm run app`: the repository) and packaged
 * (dist/ inside app.asar, tray icons in Contents/Resources/tray via electron-builder's
 * extraResources). Pure: main.ts passes the facts it gets from `app` and import.meta.url.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TrayIconName } from './tray-menu-model.js';

export interface AppLocation {
  /** The folder of the compiled main.js: `<app>/dist/main`. */
  readonly mainDir: string;
  readonly isPackaged: boolean;
  /** `process.resourcesPath`: Contents/Resources in the bundle. */
  readonly resourcesPath: string;
}

export interface AppPaths {
  readonly rendererRoot: string;
  readonly settingsHtml: string;
  /** The URL the settings window loads, and the only sender the IPC handlers accept. */
  readonly settingsUrl: string;
  readonly preload: string;
  trayIcon(name: TrayIconName): string;
}

export function appPaths(location: AppLocation): AppPaths {
  const dist = join(location.mainDir, '..');
  const rendererRoot = join(dist, 'renderer');
  const settingsHtml = join(rendererRoot, 'index.html');
  const iconDir = location.isPackaged
    ? join(location.resourcesPath, 'tray')
    : join(dist, '..', 'build');
  return {
    rendererRoot,
    settingsHtml,
    settingsUrl: pathToFileURL(settingsHtml).href,
    preload: join(dist, 'preload', 'preload.cjs'),
    // macOS picks `name@2x.png` next to it on Retina displays.
    trayIcon: (name) => join(iconDir, `${name}.png`),
  };
}
