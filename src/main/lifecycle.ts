/**
 * App lifecycle for a menu-bar app: closing the settings window does not quit, and quitting
 * stops the engine first (listener closed, tunnels ended, settings file released), with a bound
 * so a stuck close can never keep the app from quitting.
 */
import { app } from 'electron';
import type { Logger } from '../engine/log/logger.js';

const STOP_TIMEOUT_MS = 5000;

export function setupLifecycle(stop: () => Promise<void>, logger: Logger): void {
  // Without a listener Electron quits when the last window closes; the tray keeps us alive.
  app.on('window-all-closed', () => undefined);

  let stopped = false;
  app.on('before-quit', (event) => {
    if (stopped) return;
    event.preventDefault();
    const bound = new Promise<void>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref());
    Promise.race([stop(), bound])
      .catch((err: unknown) => logger.error('error while stopping', { err }))
      .finally(() => {
        stopped = true;
        app.quit();
      });
  });

  // `npm run app` in a terminal: Ctrl-C and kill quit the same way as the menu's Quit.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => app.quit());
}
