/**
 * The menu-bar icon and its menu. The menu is rebuilt from buildTrayMenu(state) whenever the
 * engine reports a change (and every minute, for "injected today" at midnight); the icon follows
 * trayIconFor(state). Template images, so macOS tints them for light and dark menu bars.
 */
import { Menu, nativeImage, Tray } from 'electron';
import { menuTemplate, readTrayState } from '../engine/desktop/tray-template.js';
import type { Logger } from '../engine/log/logger.js';
import type { AppPaths } from '../engine/desktop/app-paths.js';
import type { EngineSupervisor } from '../engine/supervisor/engine-supervisor.js';
import type { LoginItem } from './login-item.js';
import {
  buildTrayMenu,
  trayIconFor,
  trayTooltip,
  type TrayAction,
  type TrayState,
} from '../engine/desktop/tray-menu-model.js';
import type { CertificateTrust } from '../engine/trust/certificate-trust.js';

const REFRESH_MS = 60_000;

export interface TrayDeps {
  readonly paths: AppPaths;
  readonly host: EngineSupervisor;
  readonly loginItem: LoginItem;
  readonly trust: CertificateTrust;
  readonly actions: Record<TrayAction, () => Promise<void>>;
  readonly logger: Logger;
}

export function setupTray(deps: TrayDeps): { destroy(): void } {
  const { paths, host, loginItem, trust, actions, logger } = deps;
  const icon = (state: TrayState) => {
    const file = paths.trayIcon(trayIconFor(state));
    const image = nativeImage.createFromPath(file);
    // An empty image would leave an invisible menu-bar item: say where the icon was expected.
    if (image.isEmpty()) logger.error('tray icon missing or unreadable', { file });
    image.setTemplateImage(true);
    return image;
  };
  const state = () => readTrayState({ host, trust, loginItem, logger });

  const initial: TrayState = { proxy: undefined, trust: trust.state, launchAtLogin: false };
  const tray = new Tray(icon(initial));
  let refreshing = Promise.resolve();
  const run = (action: TrayAction) => {
    actions[action]()
      .catch((err: unknown) => logger.error('menu action failed', { action, err }))
      .finally(refresh);
  };
  function refresh(): void {
    refreshing = refreshing.then(async () => {
      if (tray.isDestroyed()) return;
      const current = await state();
      tray.setImage(icon(current));
      tray.setToolTip(trayTooltip(current));
      const menu = Menu.buildFromTemplate(buildTrayMenu(current).map((i) => menuTemplate(i, run)));
      // Trust is checked at start, after "Trust Certificate", and when Settings asks: not on
      // every menu open, which would run /usr/bin/security each time (docs/macos.md).
      tray.setContextMenu(menu);
    });
  }

  const unsubscribe = host.onChange(refresh);
  const timer = setInterval(refresh, REFRESH_MS);
  void trust.refresh().then(refresh);
  refresh();
  return {
    destroy() {
      unsubscribe();
      clearInterval(timer);
      tray.destroy();
    },
  };
}
