import { describe, expect, it } from 'vitest';
import { isPermissionAllowed } from '../../../src/engine/desktop/permissions.js';
import {
  SETTINGS_PARTITION,
  settingsWindowOptions,
  withDevTools,
} from '../../../src/engine/desktop/window-options.js';

describe('settingsWindowOptions', () => {
  const options = settingsWindowOptions('/app/dist/preload/preload.cjs');
  const web = options.webPreferences ?? {};

  it('isolates the renderer: context isolation, sandbox, no Node, web security', () => {
    expect(web.contextIsolation).toBe(true);
    expect(web.sandbox).toBe(true);
    expect(web.nodeIntegration).toBe(false);
    expect(web.nodeIntegrationInWorker).toBe(false);
    expect(web.nodeIntegrationInSubFrames).toBe(false);
    expect(web.webSecurity).toBe(true);
    expect(web.allowRunningInsecureContent).toBe(false);
    expect(web.webviewTag).toBe(false);
    expect(web.experimentalFeatures).toBe(false);
    expect(web.navigateOnDragDrop).toBe(false);
  });

  it('uses the CommonJS preload and a session of its own (in memory: no persist: prefix)', () => {
    expect(web.preload).toBe('/app/dist/preload/preload.cjs');
    expect(web.partition).toBe(SETTINGS_PARTITION);
    expect(SETTINGS_PARTITION.startsWith('persist:')).toBe(false);
  });

  it('is hidden until ready, sensibly sized, with a title bar style', () => {
    expect(options.show).toBe(false);
    expect(options.width).toBeGreaterThanOrEqual(options.minWidth ?? 0);
    expect(options.height).toBeGreaterThanOrEqual(options.minHeight ?? 0);
    expect(options.minWidth).toBeGreaterThanOrEqual(600);
    expect(options.titleBarStyle).toBeDefined();
  });

  it('has devtools only when not packaged, without touching the security flags', () => {
    expect(web.devTools).toBe(false);
    expect(withDevTools(options, true)).toBe(options);
    const dev = withDevTools(options, false);
    expect(dev.webPreferences?.devTools).toBe(true);
    expect({ ...dev.webPreferences, devTools: false }).toEqual(web);
  });
});

describe('permissions', () => {
  it('grants clipboard writes only', () => {
    expect(isPermissionAllowed('clipboard-sanitized-write')).toBe(true);
    for (const permission of [
      'clipboard-read',
      'media',
      'notifications',
      'geolocation',
      'openExternal',
      'fullscreen',
      'hid',
      'serial',
      'usb',
    ]) {
      expect(isPermissionAllowed(permission)).toBe(false);
    }
  });
});
