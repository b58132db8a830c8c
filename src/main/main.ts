/**
 * Keygate's Electron main process. Thin: each concern is one setupX() in its own file. The proxy
 * itself is the shared engine (src/engine), the same code as `keygate serve`.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, dialog } from 'electron';
import { chromiumProfileDir } from '../engine/desktop/chromium-profile.js';
import { dropTestSwitches } from '../engine/desktop/test-switches.js';
import { defaultHome } from '../engine/home.js';
import { createLogger, parseLogLevel } from '../engine/log/logger.js';
import { appPaths } from '../engine/desktop/app-paths.js';
import { setupDock } from './dock.js';
import { setupEngine } from './engine.js';
import { appOnlyHandlers } from '../engine/desktop/app-handlers.js';
import { setupIpc } from './ipc.js';
import { setupLifecycle } from './lifecycle.js';
import { setupLoginItem } from './login-item.js';
import { setupNotifications } from './notifications.js';
import { setupSettingsWindow } from './settings-window.js';
import { setupSingleInstance } from './single-instance.js';
import { setupTray } from './tray.js';
import { trayActions } from './tray-actions.js';
import { setupTrust } from '../engine/trust/certificate-trust.js';

const logger = createLogger({ level: parseLogLevel(process.env.KEYGATE_LOG) });

async function main(): Promise<void> {
  // Before anything reads them: a packaged app honours no test seam (test-switches.ts).
  for (const name of dropTestSwitches(process.env, app.isPackaged))
    logger.warn('ignoring a test-only variable in the packaged app', { name });
  // Before the single-instance lock and `ready`, which both use it: Chromium's files stay out of
  // the 0700 home that holds the CA key and the token (chromium-profile.ts).
  app.setPath('userData', chromiumProfileDir(app.getPath('appData'), defaultHome()));
  const instance = setupSingleInstance();
  if (!instance) return;
  await app.whenReady();
  setupDock();

  const paths = appPaths({
    mainDir: dirname(fileURLToPath(import.meta.url)),
    isPackaged: app.isPackaged,
    resourcesPath: process.resourcesPath,
  });
  const settings = setupSettingsWindow(paths, logger);
  instance.onRelaunch(() => settings.show());
  const notifier = setupNotifications(() => settings.show(), logger);
  const host = await setupEngine(notifier, logger);
  setupLifecycle(() => host.stop(), logger);
  const loginItem = setupLoginItem();
  const trust = setupTrust(() => host.handlers['ca.info'](), logger);
  // The contract, with the three operations only the app can serve answered here.
  setupIpc({ ...host.handlers, ...appOnlyHandlers(loginItem, trust) }, paths.settingsUrl, logger);
  setupTray({
    paths,
    host,
    loginItem,
    trust,
    actions: trayActions({ host, settings, loginItem, trust, notifier, logger }),
    notifier,
    logger,
  });
}

main().catch((err: unknown) => {
  logger.error('Keygate could not start', { err });
  dialog.showErrorBox('Keygate could not start', err instanceof Error ? err.message : String(err));
  app.exit(1);
});
