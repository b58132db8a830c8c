/**
 * The operations only the app can serve, because they need Electron or the login keychain:
 * Launch at Login and trusting the CA. They are declared once, in the shared contract
 * (APP_ONLY_OPERATIONS); `keygate serve` answers them with AppOnlyOperationError, and main.ts
 * lays these handlers over the controller's.
 * Pure: the login item and the trust checker are passed in.
 */
import type { AppOnlyHandlers } from '../../shared/api.js';
import type { TrustState } from './tray-menu-model.js';
import type { TrustOutcome } from '../trust/certificate-trust.js';

export interface LoginItemLike {
  readonly enabled: boolean;
  set(enabled: boolean): void;
}

export interface TrustLike {
  refresh(): Promise<TrustState>;
  trust(): Promise<TrustOutcome>;
}

const TRUST_DETAIL: Record<TrustState, string | undefined> = {
  trusted: undefined,
  'not-trusted': 'The login keychain does not trust the Keygate certificate yet.',
  unknown: 'Keygate could not tell whether the login keychain trusts its certificate.',
  unsupported: 'Keychain trust is only available on macOS.',
};

function trustAnswer(state: TrustState, detail?: string): { trusted: boolean; detail?: string } {
  const text = detail ?? TRUST_DETAIL[state];
  return { trusted: state === 'trusted', ...(text ? { detail: text } : {}) };
}

export function appOnlyHandlers(loginItem: LoginItemLike, trust: TrustLike): AppOnlyHandlers {
  return {
    'app.launchAtLogin': async ({ enabled }) => {
      if (typeof enabled === 'boolean' && enabled !== loginItem.enabled) loginItem.set(enabled);
      return { enabled: loginItem.enabled };
    },
    'ca.trustState': async () => trustAnswer(await trust.refresh()),
    'ca.trust': async () => {
      const outcome = await trust.trust();
      return trustAnswer(outcome.state, outcome.message);
    },
  };
}
