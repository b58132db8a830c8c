import { describe, expect, it } from 'vitest';
import { RENDERER_CSP, rendererCsp } from '../../src/main/csp.js';
import { isPermissionAllowed } from '../../src/main/permissions.js';
import {
  SETTINGS_PARTITION,
  settingsWindowOptions,
  withDevTools,
} from '../../src/main/window-options.js';

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

describe('renderer CSP', () => {
  const directives = new Map(
    RENDERER_CSP.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name, values.join(' ')];
    }),
  );

  it('allows only its own scripts and styles: no inline, no eval', () => {
    expect(directives.get('default-src')).toBe("'none'");
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('style-src')).toBe("'self'");
    expect(RENDERER_CSP).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it('gives the app renderer no network, and serve --ui only its own origin', () => {
    expect(directives.get('connect-src')).toBe("'none'");
    expect(rendererCsp({ transport: 'http' })).toContain("connect-src 'self'");
  });

  it('cannot be framed, and the meta form leaves out frame-ancestors', () => {
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(directives.get('object-src')).toBe("'none'");
    expect(directives.get('base-uri')).toBe("'none'");
    expect(rendererCsp({ meta: true })).not.toContain('frame-ancestors');
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
