/** "Launch at login": the app's login item, as macOS keeps it for this bundle id. */
import { app } from 'electron';

export interface LoginItem {
  readonly enabled: boolean;
  set(enabled: boolean): void;
}

export function setupLoginItem(): LoginItem {
  return {
    get enabled() {
      return app.getLoginItemSettings().openAtLogin;
    },
    set(enabled) {
      app.setLoginItemSettings({ openAtLogin: enabled });
    },
  };
}
