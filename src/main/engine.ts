/**
 * The engine in the main process: the same EngineSupervisor as `keygate serve`, over the same
 * home, kept running when the engine cannot start, with what only Electron has: the 1Password
 * token kept by safeStorage (safe-storage-token-store.ts), and problems as notifications.
 */
import { safeStorage } from 'electron';
import ElectronStore from 'electron-store';
import { coalesce } from '../shared/alerts.js';
import { ensureDirectNetwork } from '../engine/direct-network.js';
import { defaultHome } from '../engine/home.js';
import type { Logger } from '../engine/log/logger.js';
import { FileTokenStore, TokenStoreChain } from '../engine/secrets/onepassword/token-store.js';
import { EngineSupervisor } from '../engine/supervisor/engine-supervisor.js';
import {
  SafeStorageTokenStore,
  TOKEN_STORE_NAME,
} from '../engine/desktop/safe-storage-token-store.js';
import type { Notifier } from './notifications.js';

export async function setupEngine(notifier: Notifier, logger: Logger): Promise<EngineSupervisor> {
  // The app started from a shell that ran `keygate env` must not proxy its own traffic.
  const network = ensureDirectNetwork();
  for (const name of network.dropped) logger.info('ignoring an inherited proxy variable', { name });
  if (network.warning) logger.warn(network.warning);
  const home = defaultHome();
  // Only ciphertext is in it, but nobody else needs to read even that.
  const file = new ElectronStore<Record<string, unknown>>({
    name: TOKEN_STORE_NAME,
    cwd: home,
    configFileMode: 0o600,
  });
  // safeStorage first (where the app writes), then the headless file, so a token set with
  // `keygate token set` keeps working until one is set in the app.
  const tokenStore = new TokenStoreChain([
    new SafeStorageTokenStore(safeStorage, file),
    new FileTokenStore(home),
  ]);
  return EngineSupervisor.start({
    engine: { home, logger, tokenStore },
    keepRunningWithoutEngine: true,
    onProblemAppear: (alerts) => {
      for (const alert of coalesce(alerts)) notifier.notify(alert.title, alert.body);
    },
  });
}
