/**
 * The menu-bar icon and its menu: Electron's Tray, Menu and template images handed to the
 * plain-Node tray controller (engine/desktop/tray-controller.ts), which decides everything.
 */
import { Menu, nativeImage, Tray } from 'electron';
import type { AppPaths } from '../engine/desktop/app-paths.js';
import { startTray, type TrayControllerDeps } from '../engine/desktop/tray-controller.js';

type ShellDeps = TrayControllerDeps<Electron.NativeImage, Electron.Menu>;

export function setupTray(deps: Omit<ShellDeps, 'shell' | 'iconFile'> & { paths: AppPaths }): {
  destroy(): void;
} {
  return startTray({
    ...deps,
    iconFile: (name) => deps.paths.trayIcon(name),
    shell: {
      image: (file) => {
        const image = nativeImage.createFromPath(file);
        image.setTemplateImage(true);
        return image;
      },
      createTray: (image) => new Tray(image),
      buildMenu: (template) => Menu.buildFromTemplate(template),
    },
  });
}
