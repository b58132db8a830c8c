/**
 * Which problems the user should act on, as a pure function of state: a 1Password account that
 * fails (bad or expired token, locked app), a mapping gone stale (item deleted, field renamed,
 * access revoked), and the proxy's port in use. Edge-triggered: `newAlerts` returns only what
 * was not already showing, so a problem that lasts notifies once, and again only after it
 * cleared and came back. engine/problem-watcher.ts tracks them over time; the app shows them as
 * notifications (src/main/notifications.ts), and `keygate serve` writes them to its log.
 */
import type { MappingView, OnePasswordAccountStatus, OnePasswordProblem } from './api.js';

export interface AlertState {
  /** The engine could not start. */
  readonly startError?: { readonly name: string; readonly message: string };
  /** The running proxy's last error (e.g. re-enabling it found the port taken). */
  readonly proxyLastError?: string;
  readonly accounts: readonly OnePasswordAccountStatus[];
  readonly mappings: readonly MappingView[];
}

export interface Alert {
  /** Identity for edge-triggering; never contains a secret. */
  readonly key: string;
  readonly title: string;
  readonly body: string;
}

const PORT_IN_USE = /\bin use\b|EADDRINUSE/i;

/**
 * The title for each account problem (docs/onepassword.md, "What 1Password answered"). Decided by
 * the problem the engine recorded, never by the message's words: the SDK says "authentication
 * error" even when 1Password could not be reached at all.
 */
export const PROBLEM_TITLES: Readonly<Record<OnePasswordProblem, string>> = {
  'sign-in': '1Password sign-in failed',
  unreachable: '1Password could not be reached',
  'rate-limit': '1Password rate limit reached',
  locked: '1Password is locked',
  'app-missing': '1Password app not found',
  unavailable: '1Password is unavailable',
  'token-store': 'The 1Password token could not be read',
};

function portAlert(state: AlertState): Alert | undefined {
  const start = state.startError;
  const message =
    start && (start.name === 'PortInUseError' || PORT_IN_USE.test(start.message))
      ? start.message
      : state.proxyLastError && PORT_IN_USE.test(state.proxyLastError)
        ? state.proxyLastError
        : undefined;
  if (message === undefined) return undefined;
  return { key: 'port-in-use', title: 'Keygate cannot listen', body: message };
}

function accountAlerts(state: AlertState): Alert[] {
  return state.accounts.flatMap((account): Alert[] => {
    if (!account.lastError) return [];
    return [
      {
        key: `onepassword:${account.account}`,
        title: PROBLEM_TITLES[account.problem ?? 'unavailable'],
        body: `${account.mode === 'desktop' ? account.account : 'Service account'}: ${account.lastError}`,
      },
    ];
  });
}

function staleAlerts(state: AlertState): Alert[] {
  return state.mappings.flatMap((mapping): Alert[] =>
    mapping.stale
      ? [
          {
            key: `stale:${mapping.name}`,
            title: 'A mapping has gone stale',
            body: `${mapping.name}: ${mapping.stale}`,
          },
        ]
      : [],
  );
}

export function currentAlerts(state: AlertState): Alert[] {
  const port = portAlert(state);
  return [...(port ? [port] : []), ...accountAlerts(state), ...staleAlerts(state)];
}

/** The alerts in `current` whose key was not active before. */
export function newAlerts(previousKeys: ReadonlySet<string>, current: readonly Alert[]): Alert[] {
  return current.filter((alert) => !previousKeys.has(alert.key));
}

/** At most `max` notifications at once; the rest are summarised in one more. */
export function coalesce(alerts: readonly Alert[], max = 3): Alert[] {
  if (alerts.length <= max) return [...alerts];
  const shown = alerts.slice(0, max - 1);
  const rest = alerts.length - shown.length;
  return [
    ...shown,
    {
      key: 'summary',
      title: 'Keygate needs attention',
      body: `${rest} more ${rest === 1 ? 'problem' : 'problems'}; open Settings for details.`,
    },
  ];
}
