/**
 * The menu-bar menu as a pure function of state. `tray.ts` turns these descriptors into an
 * Electron Menu; keeping the decisions here makes every state testable in plain Node.
 * No electron import, at runtime or in types.
 */
import type { ApprovalDecision, PendingApprovalView, ProxyStatus } from '../../shared/api.js';
import type { TrustState } from '../trust/trust-command.js';
import { approvalLabel, budgetLine } from './tray-approvals.js';

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
  /** Requests held for the user's answer (docs/agents.md, Approvals); oldest first. */
  readonly approvals?: readonly PendingApprovalView[];
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
    }
  | {
      /** One pending approval: its line, with the three answers as a submenu. */
      readonly type: 'approval';
      readonly id: string;
      readonly label: string;
      readonly choices: readonly { readonly decision: ApprovalDecision; readonly label: string }[];
    };

export type TrayIconName =
  'trayTemplate' | 'trayOffTemplate' | 'trayErrorTemplate' | 'trayWaitingTemplate';

/** The answers a pending approval offers, as the settings page words them. */
export const APPROVAL_CHOICES = [
  { decision: 'allow', label: 'Allow for 8 hours' },
  { decision: 'always', label: 'Always' },
  { decision: 'deny', label: 'Deny' },
] as const;

/** Pending approvals listed one per line; past this, a line says how many more (Settings has all). */
export const MENU_APPROVALS_MAX = 5;
/** Budget lines in the status block; Activity in Settings has every one. */
export const MENU_BUDGETS_MAX = 3;

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
    const tokens = proxy.usageToday ?? 0;
    lines.push(`${tokens.toLocaleString('en-US')} ${tokens === 1 ? 'token' : 'tokens'} used today`);
    for (const hit of (proxy.budgetHits ?? []).slice(0, MENU_BUDGETS_MAX))
      lines.push(budgetLine(hit));
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

function approvalItems(state: TrayState): TrayMenuItem[] {
  const pending = state.approvals ?? [];
  if (pending.length === 0) return [];
  const items: TrayMenuItem[] = pending.slice(0, MENU_APPROVALS_MAX).map((p) => ({
    type: 'approval',
    id: p.id,
    label: approvalLabel(p),
    choices: APPROVAL_CHOICES,
  }));
  const more = pending.length - MENU_APPROVALS_MAX;
  if (more > 0) items.push({ type: 'status', label: `${more} more waiting: Open Settings…` });
  return [{ type: 'separator' }, ...items];
}

export function buildTrayMenu(state: TrayState): TrayMenuItem[] {
  const running = state.proxy?.running === true;
  return [
    ...statusLines(state).map((label): TrayMenuItem => ({ type: 'status', label })),
    ...approvalItems(state),
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

/**
 * Waiting: a request is held for the user (it outranks the rest: the agent is stuck until they
 * answer). Error: a start failure or a recent error. On: listening. Off: disabled or starting.
 */
export function trayIconFor(state: TrayState): TrayIconName {
  if ((state.approvals?.length ?? 0) > 0) return 'trayWaitingTemplate';
  if (lastErrorOf(state) !== undefined) return 'trayErrorTemplate';
  return state.proxy?.running === true ? 'trayTemplate' : 'trayOffTemplate';
}

/** The tooltip: the first status line, e.g. "Keygate — Listening on 127.0.0.1:8790". */
export function trayTooltip(state: TrayState): string {
  const waiting = state.approvals?.length ?? 0;
  if (waiting > 0) return `Keygate — ${waiting} waiting for your approval`;
  return `Keygate — ${statusLines(state)[0] ?? ''}`;
}
