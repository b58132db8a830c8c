/**
 * Notifications (the supervisor decides which problems, shared/alerts.ts how they read). macOS
 * delivers them only for a signed app; where the system has none, this does nothing. Clicking
 * one opens Settings.
 */
import { Notification } from 'electron';
import type { Logger } from '../engine/log/logger.js';

export interface Notifier {
  notify(title: string, body: string): void;
}

export function setupNotifications(onClick: () => void, logger: Logger): Notifier {
  if (!Notification.isSupported()) {
    logger.info('notifications are not supported here; problems show in the menu only');
    return { notify: () => undefined };
  }
  // Notification objects that are garbage-collected can vanish from the screen: keep a few.
  const live: Notification[] = [];
  return {
    notify(title, body) {
      const notification = new Notification({ title, body });
      notification.on('click', onClick);
      notification.show();
      live.push(notification);
      if (live.length > 10) live.shift();
    },
  };
}
