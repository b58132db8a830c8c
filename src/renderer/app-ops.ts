/**
 * Actions only the macOS app can take (they need Electron or the login keychain): launch at login
 * and trusting the CA. They are contract operations served by the app through the preload
 * bridge; `keygate serve` refuses them, so in a browser (`serve --ui`) none of this is offered.
 */
import { ApiCallError, unwrapEnvelope } from '../shared/api-client.js';

export interface AppOps {
  'app.launchAtLogin': { request: { enabled?: boolean }; response: { enabled: boolean } };
  'ca.trustState': {
    request: Record<string, never>;
    response: { trusted: boolean; detail?: string };
  };
  'ca.trust': { request: Record<string, never>; response: { trusted: boolean; detail?: string } };
}

export type AppOp = keyof AppOps;

export function inApp(): boolean {
  return typeof window.keygate?.call === 'function';
}

export async function callApp<K extends AppOp>(
  op: K,
  request: AppOps[K]['request'],
): Promise<AppOps[K]['response']> {
  const bridge = window.keygate;
  if (!bridge) throw new Error('only the Keygate app can do this');
  return unwrapEnvelope(op, await bridge.call(op, request)) as AppOps[K]['response'];
}

/** The app does not (yet) offer this operation to the window: fall back to the tray menu. */
export function unsupported(err: unknown): boolean {
  return err instanceof ApiCallError && err.errorName === 'UnknownOperationError';
}
