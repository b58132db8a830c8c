/**
 * Notifications for problems the user should act on (shared/alerts.ts decides which): 1Password
 * sign-in failures, stale mappings, the port in use. macOS delivers them only for a signed app,
 * and Electron reports whether the system supports them at all; without support this does
 * nothing. Clicking one opens Settings.
 */
import { Notification } from 'electron';
import type { Logger } from '../engine/log/logger.js';
import { ProblemWatcher } from '../engine/problem-watcher.js';
import { readProblemState } from '../engine/supervisor/problem-state.js';
import { coalesce, type AlertState } from '../shared/alerts.js';
import type { EngineHost } from './engine-host.js';

export interface Notifier {
  /** A one-off message (e.g. "Agent setup copied"), when notifications are supported. */
  notify(title: string, body: string): void;
  stop(): void;
}

async function alertState(host: EngineHost): Promise<AlertState> {
  const state = await readProblemState({
    handlers: host.handlers,
    accounts: () => (host.running ? host.engine.onePassword.source.status() : []),
    startError: () => host.startError,
    hostProblem: () => host.problem,
  });
  return state.alerts;
}

export function setupNotifications(
  host: EngineHost,
  onClick: () => void,
  logger: Logger,
): Notifier {
  if (!Notification.isSupported()) {
    logger.info('notifications are not supported here; problems show in the menu only');
    return { notify: () => undefined, stop: () => undefined };
  }
  // Notification objects that are garbage-collected can vanish from the screen: keep a few.
  const live: Notification[] = [];
  const show = (title: string, body: string) => {
    const notification = new Notification({ title, body });
    notification.on('click', onClick);
    notification.show();
    live.push(notification);
    if (live.length > 10) live.shift();
  };

  const problems = new ProblemWatcher({
    read: () => alertState(host),
    onAppear: (alerts) => {
      for (const alert of coalesce(alerts)) show(alert.title, alert.body);
    },
    onError: (err) => logger.warn('could not check for problems to notify', { err }),
  });
  const unsubscribe = host.onChange(() => void problems.check());
  void problems.check();
  return {
    notify: show,
    stop() {
      unsubscribe();
      problems.stop();
    },
  };
}
