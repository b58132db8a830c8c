/**
 * `window.keygate.call(op, request)` and nothing else: contract operations only, each on its own
 * channel (`keygate:<op>`), resolving to the envelope (src/shared/api-client.ts). Sandboxed
 * preloads cannot `require` our files, so the list is written out; tsc and
 * test/main/preload.test.ts check it against the contract.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { ApiOperation } from '../shared/api.js' with { 'resolution-mode': 'import' };
import type { ApiEnvelope } from '../shared/api-client.js' with { 'resolution-mode': 'import' };

const OPERATIONS = [
  'mappings.list',
  'mappings.upsert',
  'mappings.remove',
  'mappings.test',
  'agents.list',
  'agents.add',
  'agents.set',
  'agents.remove',
  'agents.env',
  'proxy.status',
  'proxy.setEnabled',
  'proxy.configure',
  'activity.recent',
  'usage.list',
  'approvals.list',
  'approvals.decide',
  'ca.info',
  'doctor.run',
  'token.set',
  'token.useDesktop',
  'token.status',
  'token.clear',
  'onepassword.vaults',
  'onepassword.items',
  'onepassword.suggestions',
  'app.launchAtLogin',
  'ca.trustState',
  'ca.trust',
] as const satisfies readonly ApiOperation[];

// Compile-time: a contract operation missing from the list makes this `false`, and tsc fails.
type Missing = Exclude<ApiOperation, (typeof OPERATIONS)[number]>;
const _operationsComplete: [Missing] extends [never] ? true : false = true;

/** What the renderer sees as `window.keygate` (src/renderer/transport.ts declares the same). */
export interface KeygateBridge {
  /** Runs one contract operation; any other gets an `UnknownOperationError`, and nothing is sent. */
  call(op: string, request: unknown): Promise<ApiEnvelope>;
}

const allowed: ReadonlySet<string> = new Set(OPERATIONS);

const bridge: KeygateBridge = {
  call(op, request) {
    // The page is not trusted to pass a string, let alone a contract operation.
    if (typeof op !== 'string' || !allowed.has(op)) {
      return Promise.resolve({
        error: {
          name: 'UnknownOperationError',
          message: `not a Keygate operation: ${typeof op === 'string' ? op : typeof op}`,
        },
      });
    }
    // SECRET: `request` may carry the 1Password token (token.set); it only travels over IPC.
    return ipcRenderer.invoke(`keygate:${op}`, request) as Promise<ApiEnvelope>;
  },
};

contextBridge.exposeInMainWorld('keygate', bridge);
