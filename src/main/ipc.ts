/**
 * Registers one `ipcMain.handle` per contract operation (the table in ipc-table.ts). Every call
 * is checked first: it must come from the top frame of the app's own settings page. A page the
 * window was somehow navigated to, a subframe, or a destroyed frame gets a refusal, and the
 * handler never runs.
 */
import { ipcMain, type IpcMainInvokeEvent } from 'electron';
import type { ApiHandlers } from '../shared/api.js';
import { errorBody } from '../shared/api-client.js';
import { defineError } from '../engine/errors.js';
import type { Logger } from '../engine/log/logger.js';
import { buildIpcTable, isTrustedSender, type IpcResult } from '../engine/desktop/ipc-table.js';

export class UntrustedSenderError extends defineError('UntrustedSenderError', {
  status: 403,
  code: 'untrusted_sender',
}) {}

function trusted(event: IpcMainInvokeEvent, settingsUrl: string): boolean {
  const frame = event.senderFrame;
  return (
    frame !== null &&
    !frame.isDestroyed() &&
    frame.parent === null &&
    isTrustedSender(frame.url, settingsUrl)
  );
}

/** Returns a function that removes every handler again. */
export function setupIpc(handlers: ApiHandlers, settingsUrl: string, logger: Logger): () => void {
  const table = buildIpcTable(handlers);
  for (const entry of table) {
    ipcMain.handle(entry.channel, (event, request: unknown): Promise<IpcResult> => {
      if (!trusted(event, settingsUrl)) {
        // The origin only: a URL's query could carry anything.
        logger.warn('IPC call refused: not from the settings page', {
          channel: entry.channel,
          origin: event.senderFrame?.origin ?? 'unknown',
        });
        const error = new UntrustedSenderError(`${entry.op} is only available to Keygate Settings`);
        return Promise.resolve({ error: errorBody(error) });
      }
      return entry.invoke(request);
    });
  }
  return () => {
    for (const entry of table) ipcMain.removeHandler(entry.channel);
  };
}
