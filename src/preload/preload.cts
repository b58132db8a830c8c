/**
 * `window.keygate.call(op, request)` and nothing else: contract operations only, each on its own
 * channel (`keygate:<op>`), resolving to the envelope (src/shared/api-client.ts). Sandboxed
 * preloads cannot `require` our files, so the build (scripts/build.mjs) writes the contract's
 * API_OPERATIONS in place of the empty list below; test/main/preload.test.ts checks the result.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { ApiEnvelope } from '../shared/api-client.js' with { 'resolution-mode': 'import' };

const OPERATIONS: readonly string[] = [/* API_OPERATIONS */];

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
