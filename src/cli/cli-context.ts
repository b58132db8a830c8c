/**
 * What every command needs: the home, its settings, and the controller over them.
 */
import { Controller } from '../engine/controller.js';
import { defaultHome } from '../engine/home.js';
import { SettingsStore } from '../engine/settings/settings-store.js';

export interface GlobalOptions {
  home?: string;
}

export function resolveHome(options: GlobalOptions): string {
  return options.home ?? defaultHome();
}

export function openStore(home: string): SettingsStore {
  return SettingsStore.open(home, {
    onRecovered: ({ corruptPath, reason }) =>
      process.stderr.write(
        `keygate: settings.json was unreadable (${reason}); kept it as ${corruptPath} and started fresh\n`,
      ),
  });
}

/** Runs fn with a controller over the home's settings, closing the store afterwards. */
export async function withController<T>(
  options: GlobalOptions,
  fn: (controller: Controller) => Promise<T>,
): Promise<T> {
  const home = resolveHome(options);
  const store = openStore(home);
  try {
    return await fn(new Controller({ store, home }));
  } finally {
    store.close();
  }
}
