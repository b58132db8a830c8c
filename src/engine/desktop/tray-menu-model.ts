/**
 * The menu-bar menu as a pure function of state. `tray.ts` turns these descriptors into an
 * Electron Menu; keeping the decisions here makes every state testable in plain Node.
 * No electron import, at runtime or in types.
 */
import type { ProxyStatus } from '../../shared/api.js';
import type { TrustState } from '../trust/trust-command.js';

/** What the login keychain says about the Keygate CA (engine/trust/). */
export type { TrustState };

export interface TrayState {
  /** The proxy as the controller reports it; undefined while the engine is still starting. */
  readonly proxy: ProxyStatus | undefined;
  /**
   * Why the engine could not start (port in use, bad settings; the app runs on without it), or
   * why the last menu action failed.
   */
  readonly hostError?: string;
  readonly trust: TrustState;
  readonly launchAtLogin: boolean;
  /** macOS registered the login item but waits for the user to allow it (login-item.ts). */
  readonly launchAtLoginNeedsApproval?: boolean;
}

/** Every action the menu can ask for; tray.ts maps each to a handler. */
export type TrayAction =
  | 'toggle-proxy'
  | 'copy-agent-setup'
  | 'open-settings'
  | 'toggle-launch-at-login'
  | 'trust-certificate'
  | 'quit';

export type TrayMenuItem =
  | { readonly type: 'separator' }
  | {
      readonly type: 'status';
      readonly label: string;
    }
  | {
      readonly type: 'normal';
      readonly action: TrayAction;
      readonly label: string;
      readonly enabled: boolean;
      readonly accelerator?: string;
    }
  | {
      readonly type: 'checkbox';
      readonly action: TrayAction;
      readonly label: string;
      readonly checked: boolean;
      readonly enabled: boolean;
    };

export type TrayIconName = 'trayTemplate' | 'trayOffTemplate' | 'trayErrorTemplate';

/** The longest error text the status line shows; the full text is in Settings. */
export const STATUS_ERROR_MAX = 60;

export function lastErrorOf(state: TrayState): string | undefined {
  return state.hostError ?? state.proxy?.lastError;
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

/** "127.0.0.1:8790" from "http://127.0.0.1:8790". */
function hostPort(address: string): string {
  return address.replace(/^[a-z]+:\/\//i, '').replace(/\/$/, '');
}

function statusLines(state: TrayState): string[] {
  const { proxy } = state;
  const lines: string[] = [];
  if (proxy?.running && proxy.address) {
    lines.push(`Listening on ${hostPort(proxy.address)}`);
    lines.push(
      `${proxy.injectedToday} ${proxy.injectedToday === 1 ? 'request' : 'requests'} injected today`,
    );
  } else if (state.hostError) {
    // Not by choice: the engine failed (port in use…), or the last attempt to enable it did.
    lines.push('Proxy is not running');
  } else {
    lines.push(proxy === undefined ? 'Keygate is starting…' : 'Proxy is off');
  }
  const error = lastErrorOf(state);
  if (error) lines.push(`Last error: ${truncate(error, STATUS_ERROR_MAX)}`);
  return lines;
}

function trustLabel(trust: TrustState): string {
  switch (trust) {
    case 'trusted':
      return 'Certificate Trusted ✓';
    case 'not-trusted':
      return 'Trust Certificate…';
    case 'unknown':
      return 'Trust Certificate… (state unknown)';
    case 'unsupported':
      return 'Trust Certificate (macOS only)';
  }
}

export function buildTrayMenu(state: TrayState): TrayMenuItem[] {
  const running = state.proxy?.running === true;
  return [
    ...statusLines(state).map((label): TrayMenuItem => ({ type: 'status', label })),
    { type: 'separator' },
    {
      type: 'checkbox',
      action: 'toggle-proxy',
      label: 'Proxy Enabled',
      checked: running,
      // While starting there is nothing to toggle yet; after a failed start, ticking retries.
      enabled: state.proxy !== undefined || state.hostError !== undefined,
    },
    {
      type: 'normal',
      action: 'copy-agent-setup',
      label: 'Copy Agent Setup',
      enabled: state.proxy !== undefined || state.hostError !== undefined,
    },
    {
      type: 'normal',
      action: 'open-settings',
      label: 'Open Settings…',
      enabled: true,
      accelerator: 'CommandOrControl+,',
    },
    { type: 'separator' },
    {
      type: 'checkbox',
      action: 'toggle-launch-at-login',
      label: state.launchAtLoginNeedsApproval
        ? 'Launch at Login (allow in System Settings › Login Items)'
        : 'Launch at Login',
      checked: state.launchAtLogin,
      enabled: true,
    },
    {
      type: 'normal',
      action: 'trust-certificate',
      label: trustLabel(state.trust),
      // Already trusted: nothing to do. Off macOS there is no login keychain to add it to.
      enabled: state.trust === 'not-trusted' || state.trust === 'unknown',
    },
    { type: 'separator' },
    {
      type: 'normal',
      action: 'quit',
      label: 'Quit Keygate',
      enabled: true,
      accelerator: 'CommandOrControl+Q',
    },
  ];
}

/** On: listening. Off: disabled or still starting. Error: a start failure or a recent error. */
export function trayIconFor(state: TrayState): TrayIconName {
  if (lastErrorOf(state) !== undefined) return 'trayErrorTemplate';
  return state.proxy?.running === true ? 'trayTemplate' : 'trayOffTemplate';
}

/** The tooltip: the first status line, e.g. "Keygate — Listening on 127.0.0.1:8790". */
export function trayTooltip(state: TrayState): string {
  return `Keygate — ${statusLines(state)[0] ?? ''}`;
}
