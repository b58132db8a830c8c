/**
 * The one read of "what is wrong right now" that both hosts act on: the app notifies
 * (main/notifications.ts), `keygate serve` logs (cli/problem-log.ts) and records the stale
 * mappings in serve.json. Local state only: asking 1Password here would spend the hourly read
 * budget (docs/onepassword.md).
 */
import type { ApiHandlers } from '../../shared/api.js';
import type { AlertState } from '../../shared/alerts.js';

export interface ProblemSources {
  readonly handlers: Pick<ApiHandlers, 'proxy.status' | 'mappings.list'>;
  /** The 1Password accounts' last known state; empty while the engine is down. */
  readonly accounts: () => AlertState['accounts'];
  /** Why the engine could not start (the app keeps running without it). */
  readonly startError?: () => Error | undefined;
  /** Why the host's last action failed (e.g. enabling the proxy from the menu). */
  readonly hostProblem?: () => string | undefined;
}

export interface ProblemState {
  readonly alerts: AlertState;
  /** Stale mappings, name → reason: what serve.json records for `keygate map list`. */
  readonly stale: Record<string, string>;
}

export async function readProblemState(sources: ProblemSources): Promise<ProblemState> {
  const [status, mappings] = await Promise.all([
    sources.handlers['proxy.status'](),
    sources.handlers['mappings.list'](),
  ]);
  const start = sources.startError?.();
  const lastError = status.lastError ?? sources.hostProblem?.();
  return {
    alerts: {
      ...(start ? { startError: { name: start.name, message: start.message } } : {}),
      ...(lastError ? { proxyLastError: lastError } : {}),
      accounts: sources.accounts(),
      mappings,
    },
    stale: Object.fromEntries(
      mappings.flatMap((m) => (m.stale ? [[m.name, m.stale] as const] : [])),
    ),
  };
}
