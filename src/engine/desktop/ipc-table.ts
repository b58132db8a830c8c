/**
 * The IPC side of the API contract, as data: one channel per operation in API_OPERATIONS, each
 * going through dispatch() (schema first, then the handler) so that what crosses to the renderer
 * is a plain result envelope. ipc.ts registers the table with ipcMain; keeping it here lets Node
 * tests check that every contract operation, and nothing else, has a channel. No electron import.
 */
import { API_OPERATIONS, type ApiHandlers, type ApiOperation } from '../../shared/api.js';
import { errorBody, type ApiEnvelope } from '../../shared/api-client.js';
import { dispatch } from '../dispatch.js';

export const IPC_CHANNEL_PREFIX = 'keygate:';

export type IpcChannel = `${typeof IPC_CHANNEL_PREFIX}${ApiOperation}`;

/**
 * What an IPC handler returns: the contract's envelope (src/shared/api-client.ts), the same as
 * `serve --ui`'s HTTP answers. Electron would flatten a thrown error into "Error invoking remote
 * method 'keygate:…': Error: …"; as data, the engine's error name and message reach the UI intact.
 * Never a stack, never the request.
 */
export type IpcResult = ApiEnvelope;

export interface IpcEntry {
  readonly op: ApiOperation;
  readonly channel: IpcChannel;
  /** Runs the handler for an already-authenticated sender. Never throws. */
  invoke(request: unknown): Promise<IpcResult>;
}

export function ipcChannel(op: ApiOperation): IpcChannel {
  return `${IPC_CHANNEL_PREFIX}${op}`;
}

export function buildIpcTable(handlers: ApiHandlers): IpcEntry[] {
  return API_OPERATIONS.map((op): IpcEntry => {
    if (typeof handlers[op] !== 'function') throw new TypeError(`no handler for ${op}`);
    return {
      op,
      channel: ipcChannel(op),
      async invoke(request) {
        try {
          // SECRET: `request` may carry the 1Password token (token.set); it is never logged.
          return { result: await dispatch(handlers, op, request as unknown) };
        } catch (err) {
          return { error: errorBody(err) };
        }
      },
    };
  });
}

/**
 * True when `senderUrl` is the app's own settings page: a file: URL with exactly the expected
 * path (the query and fragment may differ). Anything else, including a page the window was
 * navigated to, a data: or http: URL, or no URL at all, is refused.
 */
export function isTrustedSender(senderUrl: string | undefined, expectedUrl: string): boolean {
  if (!senderUrl) return false;
  let actual: URL;
  let expected: URL;
  try {
    actual = new URL(senderUrl);
    expected = new URL(expectedUrl);
  } catch {
    return false;
  }
  return (
    actual.protocol === 'file:' &&
    expected.protocol === 'file:' &&
    actual.host === '' &&
    expected.host === '' &&
    actual.pathname === expected.pathname
  );
}
