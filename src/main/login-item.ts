/**
 * "Launch at Login": the app's login item, as macOS keeps it for this bundle id. On macOS 13+
 * registering can leave the item waiting for the user's approval in System Settings › General ›
 * Login Items (`status: 'requires-approval'`, electron.d.ts); the menu says so instead of showing
 * a box that silently stays unticked.
 */
import { app } from 'electron';

export interface LoginItem {
  readonly enabled: boolean;
  /** Registered, but macOS waits for the user to allow it in System Settings. */
  readonly needsApproval: boolean;
  set(enabled: boolean): void;
}

export function setupLoginItem(): LoginItem {
  return {
    get enabled() {
      return app.getLoginItemSettings().openAtLogin;
    },
    get needsApproval() {
      return app.getLoginItemSettings().status === 'requires-approval';
    },
    set(enabled) {
      app.setLoginItemSettings({ openAtLogin: enabled });
    },
  };
}
