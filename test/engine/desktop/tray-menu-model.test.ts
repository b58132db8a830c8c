import { describe, expect, it } from 'vitest';
import type { ProxyStatus } from '../../../src/shared/api.js';
import {
  buildTrayMenu,
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
