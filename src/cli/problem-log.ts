/**
 * `keygate serve` has no menu or notifications, so the problems the app would notify about (a
 * mapping gone stale, a 1Password account failing, the port in use) go to its log: a warning
 * when one appears, a line when it clears, never once per failed request. The supervisor
 * (engine/supervisor/engine-supervisor.ts) decides when; this only says how serve tells it.
 */
import type { Logger } from '../engine/log/logger.js';
import type { SupervisorOptions } from '../engine/supervisor/engine-supervisor.js';

export function problemLog(
  logger: Logger,
): Pick<SupervisorOptions, 'onProblemAppear' | 'onProblemClear'> {
  return {
    onProblemAppear: (alerts) => {
      for (const alert of alerts) logger.warn(alert.title, { detail: alert.body });
    },
    onProblemClear: (alerts) => {
      for (const alert of alerts) logger.info('resolved', { was: alert.title, detail: alert.body });
    },
  };
}
