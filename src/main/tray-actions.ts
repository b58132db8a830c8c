/**
 * What each menu item does. tray.ts calls these by the action names of tray-menu-model.ts.
 */
import { app, clipboard, dialog } from 'electron';
import type { Logger } from '../engine/log/logger.js';
import { agentSetupText } from '../engine/desktop/agent-setup.js';
import type { EngineSupervisor } from '../engine/supervisor/engine-supervisor.js';
import type { LoginItem } from './login-item.js';
import type { Notifier } from './notifications.js';
import type { SettingsWindow } from './settings-window.js';
import type { TrayAction } from '../engine/desktop/tray-menu-model.js';
import type { CertificateTrust } from '../engine/trust/certificate-trust.js';

export interface TrayActionDeps {
  readonly host: EngineSupervisor;
  readonly settings: SettingsWindow;
  readonly loginItem: LoginItem;
  readonly trust: CertificateTrust;
  readonly notifier: Notifier;
  readonly logger: Logger;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function trayActions(deps: TrayActionDeps): Record<TrayAction, () => Promise<void>> {
  const { host, settings, loginItem, trust, notifier, logger } = deps;
  return {
    'toggle-proxy': async () => {
      const status = await host.handlers['proxy.status']();
      try {
        await host.setEnabled(!status.running);
      } catch (err) {
        // The host keeps the message for the status line; say it once here too.
        dialog.showErrorBox('Keygate could not start the proxy', message(err));
      }
    },
    'copy-agent-setup': async () => {
      try {
        const env = await host.handlers['agents.env']({});
        // SECRET: the text holds the default agent's proxy token; it goes to the clipboard only.
        clipboard.writeText(agentSetupText(env, process.env.SHELL));
        notifier.notify(
          'Agent setup copied',
          'Paste it into the shell that starts your agent (or use `keygate run`).',
        );
      } catch (err) {
        dialog.showErrorBox('Keygate could not build the agent setup', message(err));
      }
    },
    'open-settings': async () => settings.show(),
    'toggle-launch-at-login': async () => {
      try {
        loginItem.set(!loginItem.enabled);
        if (loginItem.needsApproval) {
          await dialog.showMessageBox({
            type: 'info',
            message: 'Allow Keygate to launch at login',
            detail:
              'macOS asks you to allow it first: open System Settings › General › Login Items and switch Keygate on.',
          });
        }
      } catch (err) {
        logger.error('could not change the login item', { err });
        dialog.showErrorBox('Keygate could not change Launch at Login', message(err));
      }
    },
    'trust-certificate': async () => {
      const outcome = await trust.trust();
      await dialog.showMessageBox({
        type: outcome.ok ? 'info' : 'warning',
        message: outcome.ok ? 'Certificate trusted' : 'Certificate not trusted',
        detail: outcome.message,
      });
    },
    quit: async () => app.quit(),
  };
}
