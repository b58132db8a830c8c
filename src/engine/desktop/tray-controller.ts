/**
 * The menu-bar item's behaviour, without Electron (src/main/tray.ts hands in Tray, Menu and
 * nativeImage). The menu is rebuilt from buildTrayMenu(state) whenever the engine reports a
 * change (settings, activity, approvals) and every minute (for "today" at midnight); the icon
 * follows trayIconFor(state). A pending approval gets a menu line with its three answers, the
 * waiting icon, and one notification when it arrives (docs/agents.md, "Approvals").
 */
import type { ApiHandlers, ApprovalDecision } from '../../shared/api.js';
import type { Logger } from '../log/logger.js';
import { approvalLabel, ApprovalArrivals } from './tray-approvals.js';
import {
  buildTrayMenu,
  trayIconFor,
  trayTooltip,
  type TrayAction,
  type TrayIconName,
  type TrayState,
} from './tray-menu-model.js';
import { menuTemplate, readTrayState, type MenuTemplateItem } from './tray-template.js';

export const TRAY_REFRESH_MS = 60_000;

/** The part of an Electron image the tray needs. */
export interface TrayImage {
  isEmpty(): boolean;
}

/** The part of Electron's Tray this uses (structural: electron's class fits). */
export interface TrayItem<Image, Menu> {
  setImage(image: Image): void;
  setToolTip(tooltip: string): void;
  setContextMenu(menu: Menu): void;
  isDestroyed(): boolean;
  destroy(): void;
}

/** What only Electron can do, handed in by src/main/tray.ts. */
export interface TrayShell<Image extends TrayImage, Menu> {
  /** A template image from a file (nativeImage.createFromPath + setTemplateImage). */
  image(file: string): Image;
  createTray(image: Image): TrayItem<Image, Menu>;
  buildMenu(template: MenuTemplateItem[]): Menu;
}

export interface TrayControllerDeps<Image extends TrayImage, Menu> {
  readonly shell: TrayShell<Image, Menu>;
  readonly iconFile: (name: TrayIconName) => string;
  readonly host: {
    readonly handlers: Pick<ApiHandlers, 'proxy.status' | 'approvals.list' | 'approvals.decide'>;
    readonly problem?: string;
    onChange(listener: () => void): () => void;
  };
  readonly trust: { readonly state: TrayState['trust']; refresh(): Promise<unknown> };
  readonly loginItem: { readonly enabled: boolean; readonly needsApproval: boolean };
  readonly actions: Record<TrayAction, () => Promise<void>>;
  readonly notifier: { notify(title: string, body: string): void };
  readonly logger: Logger;
  readonly refreshMs?: number;
}

export interface TrayController {
  /** Resolves once every refresh asked for so far has been applied (tests wait on it). */
  settled(): Promise<void>;
  destroy(): void;
}

export function startTray<Image extends TrayImage, Menu>(
  deps: TrayControllerDeps<Image, Menu>,
): TrayController {
  const { shell, host, trust, loginItem, actions, notifier, logger } = deps;
  const icon = (state: TrayState) => {
    const file = deps.iconFile(trayIconFor(state));
    const image = shell.image(file);
    // An empty image would leave an invisible menu-bar item: say where the icon was expected.
    if (image.isEmpty()) logger.error('tray icon missing or unreadable', { file });
    return image;
  };
  const arrivals = new ApprovalArrivals();
  const initial: TrayState = { proxy: undefined, trust: trust.state, launchAtLogin: false };
  const tray = shell.createTray(icon(initial));
  let refreshing = Promise.resolve();

  const run = (action: TrayAction) => {
    actions[action]()
      .catch((err: unknown) => logger.error('menu action failed', { action, err }))
      .finally(refresh);
  };
  const decide = (id: string, decision: ApprovalDecision) => {
    host.handlers['approvals.decide']({ id, decision })
      // Already answered elsewhere (Settings, the CLI) or timed out: the next menu drops it.
      .catch((err: unknown) => logger.warn('could not answer the approval', { id, err }))
      .finally(refresh);
  };

  function refresh(): void {
    refreshing = refreshing.then(async () => {
      if (tray.isDestroyed()) return;
      const current = await readTrayState({ host, trust, loginItem, logger });
      for (const pending of arrivals.arrived(current.approvals ?? []))
        notifier.notify(approvalLabel(pending), 'Allow or deny it from the Keygate menu.');
      tray.setImage(icon(current));
      tray.setToolTip(trayTooltip(current));
      // Trust is checked at start, after "Trust Certificate", and when Settings asks: not on
      // every menu open, which would run /usr/bin/security each time (docs/macos.md).
      tray.setContextMenu(
        shell.buildMenu(buildTrayMenu(current).map((i) => menuTemplate(i, run, decide))),
      );
    });
  }

  const unsubscribe = host.onChange(refresh);
  const timer = setInterval(refresh, deps.refreshMs ?? TRAY_REFRESH_MS);
  timer.unref?.();
  void trust.refresh().then(refresh, (err: unknown) => {
    logger.warn('could not read the certificate trust', { err });
    refresh();
  });
  refresh();
  return {
    settled: async () => {
      let last: Promise<void>;
      do {
        last = refreshing;
        await last;
      } while (last !== refreshing);
    },
    destroy() {
      unsubscribe();
      clearInterval(timer);
      tray.destroy();
    },
  };
}
