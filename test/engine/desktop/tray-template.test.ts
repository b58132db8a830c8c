import { describe, expect, it } from 'vitest';
import { menuTemplate, readTrayState } from '../../../src/engine/desktop/tray-template.js';
import { silentLogger } from '../../../src/engine/log/logger.js';
import type { ProxyStatus } from '../../../src/shared/api.js';

describe('the tray template and state, without Electron', () => {
  it('turns descriptors into menu items whose click runs the action', () => {
    const ran: string[] = [];
    const item = menuTemplate(
      {
        type: 'checkbox',
        action: 'toggle-proxy',
        label: 'Proxy Enabled',
        checked: true,
        enabled: true,
      },
      (action) => ran.push(action),
    );
    expect(item).toMatchObject({ type: 'checkbox', label: 'Proxy Enabled', checked: true });
    item.click?.();
    expect(ran).toEqual(['toggle-proxy']);
    expect(menuTemplate({ type: 'status', label: 'Proxy is off' }, () => undefined)).toEqual({
      label: 'Proxy is off',
      enabled: false,
    });
  });

  it('reads the state; a failing status read leaves the proxy unknown and keeps the problem', async () => {
    const state = await readTrayState({
      host: {
        handlers: { 'proxy.status': async () => Promise.reject(new Error('down')) },
        problem: 'port 8790 on 127.0.0.1 is in use',
      },
      trust: { state: 'unsupported' },
      loginItem: { enabled: true, needsApproval: false },
      logger: silentLogger,
    });
    expect(state).toEqual({
      proxy: undefined,
      approvals: [],
      hostError: 'port 8790 on 127.0.0.1 is in use',
      trust: 'unsupported',
      launchAtLogin: true,
      launchAtLoginNeedsApproval: false,
    });
    const running = { running: true } as unknown as ProxyStatus;
    const ok = await readTrayState({
      host: { handlers: { 'proxy.status': async () => running } },
      trust: { state: 'trusted' },
      loginItem: { enabled: false, needsApproval: false },
      logger: silentLogger,
    });
    expect(ok.proxy).toBe(running);
    expect(ok.hostError).toBeUndefined();
  });
});
