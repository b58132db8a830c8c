/**
 * Tracks the problems the user should act on (shared/alerts.ts decides which) and reports each
 * one once when it appears and once when it clears. The app turns them into notifications and
 * `keygate serve` into log lines, so a headless user hears of a stale mapping too.
 *
 * Checks run on a timer, and shortly after anything that may change the answer (`soon()`: a
 * failed request, a settings change). Reading the state is local: it never asks 1Password,
 * which would spend the account's hourly read budget.
 */
import { currentAlerts, newAlerts, type Alert, type AlertState } from '../shared/alerts.js';

export interface ProblemWatcherOptions {
  /** The current state; local reads only. */
  readonly read: () => Promise<AlertState>;
  readonly onAppear: (alerts: Alert[]) => void;
  readonly onClear?: (alerts: Alert[]) => void;
  /** A check could not read the state; the next one tries again. */
  readonly onError: (err: unknown) => void;
  /** Time between checks (default 30 s). */
  readonly intervalMs?: number;
  /** How long `soon()` waits, so a burst of failed requests costs one check (default 200 ms). */
  readonly settleMs?: number;
}

export class ProblemWatcher {
  readonly #options: ProblemWatcherOptions;
  readonly #timer: NodeJS.Timeout;
  #active = new Map<string, Alert>();
  #running: Promise<void> | undefined;
  #rerun = false;
  #soon: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: ProblemWatcherOptions) {
    this.#options = options;
    this.#timer = setInterval(() => void this.check(), options.intervalMs ?? 30_000);
    // Never the reason a process stays alive.
    this.#timer.unref();
  }

  /** The problems showing now. */
  get active(): Alert[] {
    return [...this.#active.values()];
  }

  /** Checks shortly, once for any number of calls in the meantime. */
  soon(): void {
    if (this.#soon || this.#stopped) return;
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      void this.check();
    }, this.#options.settleMs ?? 200);
    this.#soon.unref();
  }

  /** Checks now, or once more right after the check already running. */
  check(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running) {
      this.#rerun = true;
      return this.#running;
    }
    this.#running = this.#checkOnce().finally(() => {
      this.#running = undefined;
      if (this.#rerun) {
        this.#rerun = false;
        void this.check();
      }
    });
    return this.#running;
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    if (this.#soon) clearTimeout(this.#soon);
  }

  async #checkOnce(): Promise<void> {
    let current: Alert[];
    try {
      current = currentAlerts(await this.#options.read());
    } catch (err) {
      this.#options.onError(err);
      return;
    }
    if (this.#stopped) return;
    const next = new Map(current.map((alert) => [alert.key, alert]));
    const appeared = newAlerts(new Set(this.#active.keys()), current);
    const cleared = [...this.#active.values()].filter((alert) => !next.has(alert.key));
    this.#active = next;
    if (appeared.length > 0) this.#options.onAppear(appeared);
    if (cleared.length > 0) this.#options.onClear?.(cleared);
  }
}
