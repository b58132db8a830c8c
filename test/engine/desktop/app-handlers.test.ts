import { describe, expect, it } from 'vitest';
import { API_OPERATIONS, APP_ONLY_OPERATIONS } from '../../../src/shared/api.js';
import {
  appOnlyHandlers,
  type LoginItemLike,
  type TrustLike,
} from '../../../src/engine/desktop/app-handlers.js';
import type { TrustState } from '../../../src/engine/desktop/tray-menu-model.js';

function fakes(state: TrustState = 'not-trusted') {
  let enabled = false;
  const sets: boolean[] = [];
  const loginItem: LoginItemLike = {
    get enabled() {
      return enabled;
    },
    set(value) {
      sets.push(value);
      enabled = value;
    },
  };
  const trust: TrustLike = {
    refresh: async () => state,
    trust: async () => {
      state = 'trusted';
      return { ok: true, message: 'The Keygate certificate is now trusted.', state };
    },
  };
  return { loginItem, trust, sets };
}

describe('appOnlyHandlers', () => {
  it('reads and sets Launch at Login, touching the login item only on a change', async () => {
    const { loginItem, trust, sets } = fakes();
    const handlers = appOnlyHandlers(loginItem, trust);
    await expect(handlers['app.launchAtLogin']({})).resolves.toEqual({ enabled: false });
    await expect(handlers['app.launchAtLogin']({ enabled: true })).resolves.toEqual({
      enabled: true,
    });
    await handlers['app.launchAtLogin']({ enabled: true });
    expect(sets).toEqual([true]);
  });

  it('reports trust state and trusts on request', async () => {
    const { loginItem, trust } = fakes('not-trusted');
    const handlers = appOnlyHandlers(loginItem, trust);
    await expect(handlers['ca.trustState']()).resolves.toMatchObject({ trusted: false });
    await expect(handlers['ca.trust']()).resolves.toEqual({
      trusted: true,
      detail: 'The Keygate certificate is now trusted.',
    });
    await expect(handlers['ca.trustState']()).resolves.toEqual({ trusted: true });
  });

  it('says why trust is unavailable off macOS', async () => {
    const { loginItem, trust } = fakes('unsupported');
    await expect(appOnlyHandlers(loginItem, trust)['ca.trustState']()).resolves.toEqual({
      trusted: false,
      detail: 'Keychain trust is only available on macOS.',
    });
  });

  it('are contract operations, so the preload carries them', () => {
    for (const op of APP_ONLY_OPERATIONS) {
      expect((API_OPERATIONS as readonly string[]).includes(op)).toBe(true);
    }
  });
});
