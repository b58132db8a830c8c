/**
 * One Keygate at a time: a second launch hands over to the running one, which opens Settings.
 * On macOS a re-launch from Finder, Spotlight or `open -a Keygate` does not start a second
 * process: LaunchServices sends `activate` to the running app instead (electron.d.ts, `activate`
 * and `requestSingleInstanceLock`). Both mean "the user asked for Keygate": the menu-bar-only app
 * would otherwise seem to do nothing.
 */
import { app } from 'electron';

export interface SingleInstance {
  onRelaunch(listener: () => void): void;
}

/** Undefined when another instance already runs; this one is quitting then. */
export function setupSingleInstance(): SingleInstance | undefined {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return undefined;
  }
  return {
    onRelaunch(listener) {
      app.on('second-instance', () => listener());
      app.on('activate', () => listener());
    },
  };
}
