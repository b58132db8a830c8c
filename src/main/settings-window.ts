/**
 * The one settings window. It loads dist/renderer/index.html in a session of its own, which:
 *  - cancels every request but the renderer's own files (no network, no other files);
 *  - adds the CSP as a response header wherever Chromium reports headers (the page carries the
 *    policy in a <meta> tag too, which is what applies to file: loads);
 *  - grants no permission except writing to the clipboard.
 * Navigation away from the page and window.open are refused; https: links open in the browser.
 */
import { app, BrowserWindow, session, shell, type Session, type WebContents } from 'electron';
import type { Logger } from '../engine/log/logger.js';
import type { AppPaths } from '../engine/desktop/app-paths.js';
import { isPermissionAllowed } from '../engine/desktop/permissions.js';
import { navigationDecision } from '../engine/desktop/navigation.js';
import { RENDERER_CSP } from '../shared/csp.js';
import { isAllowedRequest } from '../engine/desktop/renderer-files.js';
import {
  SETTINGS_PARTITION,
  settingsWindowOptions,
  withDevTools,
} from '../engine/desktop/window-options.js';

export interface SettingsWindow {
  show(): void;
}

function secureSession(paths: AppPaths): Session {
  const ses = session.fromPartition(SETTINGS_PARTITION);
  ses.webRequest.onBeforeRequest((details, callback) => {
    callback({ cancel: !isAllowedRequest(details.url, paths.rendererRoot, app.isPackaged) });
  });
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({
      responseHeaders: {
        ...details.responseHeaders,
        'Content-Security-Policy': [RENDERER_CSP],
        'X-Content-Type-Options': ['nosniff'],
      },
    });
  });
  ses.setPermissionRequestHandler((_contents, permission, callback) =>
    callback(isPermissionAllowed(permission)),
  );
  ses.setPermissionCheckHandler((_contents, permission) => isPermissionAllowed(permission));
  return ses;
}

function guardNavigation(contents: WebContents, settingsUrl: string, logger: Logger): void {
  const follow = (url: string): boolean => {
    const decision = navigationDecision(url, settingsUrl);
    if (decision === 'open-external') {
      shell.openExternal(url).catch((err: unknown) => logger.warn('could not open link', { err }));
    }
    return decision === 'allow';
  };
  contents.on('will-navigate', (event) => {
    if (!follow(event.url)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => {
    if (navigationDecision(event.url, settingsUrl) !== 'allow') event.preventDefault();
  });
  contents.setWindowOpenHandler(({ url }) => {
    follow(url);
    return { action: 'deny' };
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

export function setupSettingsWindow(paths: AppPaths, logger: Logger): SettingsWindow {
  secureSession(paths);
  // Any web contents the app ever creates gets the same navigation rules.
  app.on('web-contents-created', (_event, contents) =>
    guardNavigation(contents, paths.settingsUrl, logger),
  );
  let window: BrowserWindow | undefined;

  return {
    show() {
      if (window && !window.isDestroyed()) {
        if (window.isMinimized()) window.restore();
        window.show();
        window.focus();
        app.focus({ steal: true });
        return;
      }
      const created = new BrowserWindow(
        withDevTools(settingsWindowOptions(paths.preload), app.isPackaged),
      );
      window = created;
      created.once('ready-to-show', () => {
        created.show();
        app.focus({ steal: true });
      });
      // Closed means gone: the renderer's memory is freed, and the next Open Settings… starts fresh.
      created.on('closed', () => {
        if (window === created) window = undefined;
      });
      created.loadFile(paths.settingsHtml).catch((err: unknown) => {
        logger.error('could not load the settings page (is the renderer built?)', { err });
      });
    },
  };
}
