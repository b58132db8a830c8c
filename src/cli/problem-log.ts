/**
 * `keygate serve` has no menu or notifications, so the problems the app would notify about (a
 * mapping gone stale, a 1Password account failing, the port in use) go to its log: a warning
 * when one appears, a line when it clears, never once per failed request.
 */
import type { Controller } from '../engine/controller.js';
import type { KeygateEngine } from '../engine/keygate-engine.js';
import type { Logger } from '../engine/log/logger.js';
import { ProblemWatcher } from '../engine/problem-watcher.js';
import { readProblemState } from '../engine/supervisor/problem-state.js';
import type { AlertState } from '../shared/alerts.js';

/**
 * Starts logging problems; returns the function that stops it. `onStaleChange` gets the stale
 * mappings (name → reason) whenever a problem appears or clears, for serve.json.
 */
export function logProblems(
  engine: KeygateEngine,
  controller: Controller,
  logger: Logger,
  onStaleChange: (stale: Record<string, string>) => void = () => undefined,
): () => void {
  let stale: Record<string, string> = {};
  const read = async (): Promise<AlertState> => {
    const state = await readProblemState({
      handlers: controller.handlers,
      accounts: () => engine.onePassword.source.status(),
    });
    stale = state.stale;
    return state.alerts;
  };
  const problems = new ProblemWatcher({
    read,
    onAppear: (alerts) => {
      for (const alert of alerts) logger.warn(alert.title, { detail: alert.body });
      onStaleChange(stale);
    },
    onClear: (alerts) => {
      for (const alert of alerts) logger.info('resolved', { was: alert.title, detail: alert.body });
      onStaleChange(stale);
    },
    onError: (err) => logger.warn('could not check for problems', { err }),
  });
  // A failed request may be the first sign of one (an item deleted); while one shows, any request
  // may be the sign it cleared. A settings change may do either.
  const unsubscribeActivity = engine.activity.subscribe((event) => {
    if (event.outcome === 'error' || problems.active.length > 0) problems.soon();
  });
  const unsubscribeSettings = engine.store.onChange(() => problems.soon());
  problems.soon();
  return () => {
    unsubscribeActivity();
    unsubscribeSettings();
    problems.stop();
  };
}
