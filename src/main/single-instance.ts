/**
 * One Keygate at a time: a second launch (Finder, `open -a Keygate`, the login item) hands over
 * to the running one, which opens Settings, and quits.
 */
import { app } from 'electron';

export interface SingleInstance {
  onSecondInstance(listener: () => void): void;
}

/** Undefined when another instance already runs; this one is quitting then. */
export function setupSingleInstance(): SingleInstance | undefined {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return undefined;
  }
  return {
    onSecondInstance(listener) {
      app.on('second-instance', () => listener());
    },
  };
}
