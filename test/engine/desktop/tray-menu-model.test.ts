import { describe, expect, it } from 'vitest';
import type { PendingApprovalView, ProxyStatus } from '../../../src/shared/api.js';
import {
  buildTrayMenu,
  MENU_APPROVALS_MAX,
  trayIconFor,
  trayTooltip,
  type TrayMenuItem,
  type TrayState,
} from '../../../src/engine/desktop/tray-menu-model.js';

const listening: ProxyStatus = {
  running: true,
  address: 'http://127.0.0.1:8790',
  port: 8790,
  denyUnmapped: false,
  mappings: 2,
  agents: 1,
  injectedToday: 42,
  usageToday: 0,
};
const off: ProxyStatus = { ...listening, running: false, address: undefined, injectedToday: 0 };
delete (off as { address?: string }).address;

const base: TrayState = { proxy: listening, trust: 'trusted', launchAtLogin: false };

function statusLabels(menu: TrayMenuItem[]): string[] {
  return menu.flatMap((item) => (item.type === 'status' ? [item.label] : []));
}

function item(menu: TrayMenuItem[], action: string) {
  const found = menu.find((i) => 'action' in i && i.action === action);
  if (!found || found.type === 'separator' || found.type === 'status')
    throw new Error(`no ${action}`);
  return found;
}

describe('buildTrayMenu', () => {
  it('has every entry the issue asks for, in order, once', () => {
    const menu = buildTrayMenu(base);
    const actions = menu.flatMap((i) => ('action' in i ? [i.action] : []));
    expect(actions).toEqual([
      'toggle-proxy',
      'copy-agent-setup',
      'open-settings',
      'toggle-launch-at-login',
      'trust-certificate',
      'quit',
    ]);
    expect(menu[0]?.type).toBe('status');
    expect(menu.at(-1)).toMatchObject({ action: 'quit', enabled: true });
  });

  it('listening: address, injected count, proxy ticked, on icon', () => {
    const menu = buildTrayMenu(base);
    expect(statusLabels(menu)).toEqual([
      'Listening on 127.0.0.1:8790',
      '42 requests injected today',
      '0 tokens used today',
    ]);
    expect(item(menu, 'toggle-proxy')).toMatchObject({
      type: 'checkbox',
      checked: true,
      enabled: true,
    });
    expect(trayIconFor(base)).toBe('trayTemplate');
    expect(trayTooltip(base)).toBe('Keygate — Listening on 127.0.0.1:8790');
  });

  it('says "1 request" in the singular', () => {
    const menu = buildTrayMenu({ ...base, proxy: { ...listening, injectedToday: 1 } });
    expect(statusLabels(menu)).toContain('1 request injected today');
  });

  it('disabled: proxy off, unticked, off icon', () => {
    const state: TrayState = { ...base, proxy: off };
    expect(statusLabels(buildTrayMenu(state))).toEqual(['Proxy is off']);
    expect(item(buildTrayMenu(state), 'toggle-proxy')).toMatchObject({
      checked: false,
      enabled: true,
    });
    expect(trayIconFor(state)).toBe('trayOffTemplate');
  });

  it('starting: nothing to toggle or copy yet, off icon', () => {
    const state: TrayState = { ...base, proxy: undefined };
    const menu = buildTrayMenu(state);
    expect(statusLabels(menu)).toEqual(['Keygate is starting…']);
    expect(item(menu, 'toggle-proxy')).toMatchObject({ enabled: false, checked: false });
    expect(item(menu, 'copy-agent-setup')).toMatchObject({ enabled: false });
    expect(item(menu, 'open-settings')).toMatchObject({ enabled: true });
    expect(trayIconFor(state)).toBe('trayOffTemplate');
  });

  it('failed start (port in use): says so, toggling retries, error icon', () => {
    const state: TrayState = {
      ...base,
      proxy: undefined,
      hostError: 'port 8790 on 127.0.0.1 is in use: is another Keygate running? (keygate doctor)',
    };
    const menu = buildTrayMenu(state);
    const lines = statusLabels(menu);
    expect(lines[0]).toBe('Proxy is not running');
    expect(lines[1]).toMatch(/^Last error: port 8790 on 127\.0\.0\.1 is in use/);
    // Truncated for the menu: at most 60 characters of error text.
    expect(lines[1]!.length).toBeLessThanOrEqual('Last error: '.length + 60);
    expect(lines[1]).toMatch(/…$/);
    expect(item(menu, 'toggle-proxy')).toMatchObject({ enabled: true, checked: false });
    expect(trayIconFor(state)).toBe('trayErrorTemplate');
  });

  it('engine down but settings available (fallback controller): not running, not "off"', () => {
    const state: TrayState = { ...base, proxy: off, hostError: 'port 8790 is in use' };
    expect(statusLabels(buildTrayMenu(state))).toEqual([
      'Proxy is not running',
      'Last error: port 8790 is in use',
    ]);
    expect(item(buildTrayMenu(state), 'copy-agent-setup')).toMatchObject({ enabled: true });
    expect(trayIconFor(state)).toBe('trayErrorTemplate');
  });

  it('running with a last error: still listening, error shown on one line, error icon', () => {
    const state: TrayState = {
      ...base,
      proxy: { ...listening, lastError: '1Password did not answer\nin time' },
    };
    expect(statusLabels(buildTrayMenu(state))).toEqual([
      'Listening on 127.0.0.1:8790',
      '42 requests injected today',
      '0 tokens used today',
      'Last error: 1Password did not answer in time',
    ]);
    expect(trayIconFor(state)).toBe('trayErrorTemplate');
  });

  it('launch at login follows the login item', () => {
    expect(item(buildTrayMenu(base), 'toggle-launch-at-login')).toMatchObject({
      type: 'checkbox',
      checked: false,
    });
    expect(
      item(buildTrayMenu({ ...base, launchAtLogin: true }), 'toggle-launch-at-login'),
    ).toMatchObject({ checked: true });
  });

  it.each([
    ['trusted', 'Certificate Trusted ✓', false],
    ['not-trusted', 'Trust Certificate…', true],
    ['unknown', 'Trust Certificate… (state unknown)', true],
    ['unsupported', 'Trust Certificate (macOS only)', false],
  ] as const)('trust state %s → "%s" (enabled: %s)', (trust, label, enabled) => {
    expect(item(buildTrayMenu({ ...base, trust }), 'trust-certificate')).toMatchObject({
      label,
      enabled,
    });
  });

  it('is a pure function of state', () => {
    expect(buildTrayMenu(base)).toEqual(buildTrayMenu({ ...base }));
  });
});

describe('approvals, usage and budgets in the menu (issue 13)', () => {
  const pending = (id: string, agent = 'claude'): PendingApprovalView => ({
    id,
    agent,
    mapping: 'api.anthropic.com',
    preset: 'anthropic',
    host: 'api.anthropic.com',
    port: 443,
    method: 'POST',
    path: '/v1/messages',
    since: '2026-03-01T10:00:00.000Z',
    expiresAt: '2026-03-01T10:02:00.000Z',
    waiting: 1,
  });

  it('a line per pending approval, right under the status, with its three answers', () => {
    const state: TrayState = { ...base, approvals: [pending('a1'), pending('b2', 'codex')] };
    const menu = buildTrayMenu(state);
    const lines = menu.filter((i) => i.type === 'approval');
    expect(lines).toEqual([
      {
        type: 'approval',
        id: 'a1',
        label: 'claude wants Anthropic (api.anthropic.com)',
        choices: [
          { decision: 'allow', label: 'Allow for 8 hours' },
          { decision: 'always', label: 'Always' },
          { decision: 'deny', label: 'Deny' },
        ],
      },
      expect.objectContaining({ id: 'b2', label: 'codex wants Anthropic (api.anthropic.com)' }),
    ]);
    const first = menu.findIndex((i) => i.type === 'approval');
    expect(menu[first - 1]).toEqual({ type: 'separator' });
    expect(menu.slice(0, first - 1).every((i) => i.type === 'status')).toBe(true);
    expect(trayIconFor(state)).toBe('trayWaitingTemplate');
    expect(trayTooltip(state)).toBe('Keygate — 2 waiting for your approval');
    // Waiting outranks an error: the agent is stuck until the user answers.
    expect(trayIconFor({ ...state, hostError: 'port in use' })).toBe('trayWaitingTemplate');
    expect(trayIconFor({ ...state, approvals: [] })).toBe('trayTemplate');
  });

  it('names a mapping without a preset, and a port other than 443', () => {
    const other = {
      ...pending('c3'),
      preset: undefined,
      mapping: 'git.example.com',
      host: 'git.example.com',
      port: 8443,
    };
    delete (other as { preset?: string }).preset;
    const [line] = buildTrayMenu({ ...base, approvals: [other] }).filter(
      (i) => i.type === 'approval',
    );
    expect(line).toMatchObject({ label: 'claude wants git.example.com (git.example.com:8443)' });
  });

  it(`lists at most ${MENU_APPROVALS_MAX}, then says how many more`, () => {
    const many = Array.from({ length: MENU_APPROVALS_MAX + 2 }, (_, i) => pending(`id${i}`));
    const menu = buildTrayMenu({ ...base, approvals: many });
    expect(menu.filter((i) => i.type === 'approval')).toHaveLength(MENU_APPROVALS_MAX);
    expect(statusLabels(menu)).toContain('2 more waiting: Open Settings…');
  });

  it("shows today's tokens and the budgets refusing requests in the status block", () => {
    const until = new Date(2026, 2, 1, 14, 5).toISOString();
    const menu = buildTrayMenu({
      ...base,
      proxy: {
        ...listening,
        usageToday: 1234567,
        budgetHits: [
          { agent: 'ci', kind: 'requests', limit: 100, used: 100, until },
          {
            agent: 'claude',
            mapping: 'api.openai.com',
            kind: 'tokens',
            limit: 5000,
            used: 5001,
            until,
          },
        ],
      },
    });
    expect(statusLabels(menu)).toEqual([
      'Listening on 127.0.0.1:8790',
      '42 requests injected today',
      '1,234,567 tokens used today',
      'ci: over its 100 requests/hour until 14:05',
      'claude on api.openai.com: over its 5000 tokens/day until 14:05',
    ]);
  });
});
