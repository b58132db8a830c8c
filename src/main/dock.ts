/**
 * Menu bar only, no Dock icon. The packaged bundle says so with LSUIElement (electron-builder.yml);
 * this covers `npm run app`, where the Electron binary's own Info.plist does not.
 */
import { app } from 'electron';

export function setupDock(): void {
  app.dock?.hide();
}
