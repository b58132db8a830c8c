/**
 * The contract, checked at run time, the same over both transports: one malformed request per
 * operation (test/helpers/contract-requests.ts) sent over IPC to the real main process (under
 * the fake electron) and over HTTP to the real UI server gets the same InvalidRequestError from
 * the operation's schema, and no handler runs (the settings stay as they were).
 */
import http from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Controller } from '../../src/engine/controller.js';
import { SettingsStore } from '../../src/engine/settings/settings-store.js';
import { startUiServer, type UiServer } from '../../src/engine/ui/ui-server.js';
import { API_OPERATIONS, type ApiHandlers } from '../../src/shared/api.js';
import { MALFORMED } from '../helpers/contract-requests.js';
import { cleanUp, dirs, start } from './fixtures/fake-app.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await cleanUp();
});

function post(ui: UiServer, op: string, request: unknown) {
  const body = JSON.stringify(request);
  return new Promise<{ status: number; envelope: unknown }>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: ui.port,
      path: `/api/${op}`,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        authorization: `Bearer ${ui.token}`,
      },
      agent: false,
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, envelope: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function uiServer(handlers?: ApiHandlers): Promise<{ ui: UiServer; home: string }> {
  const home = mkdtempSync(join(tmpdir(), 'keygate-contract-'));
  dirs.push(home);
  const store = SettingsStore.open(home);
  closers.push(() => store.close());
  const ui = await startUiServer({
    controller: handlers ? { handlers } : new Controller({ store, home }),
  });
  closers.push(() => ui.close());
  return { ui, home };
}

describe('a malformed request, over IPC and over HTTP', () => {
  it('gets the same named error from its schema, for every operation', async () => {
    const { app, home: appHome } = start(0);
    // The tray is set up after IPC: every channel is registered by then.
    await app.waitFor((e) => e.event === 'tray', 'the tray');
    const { ui, home: serveHome } = await uiServer();
    const settingsBefore = [appHome, serveHome].map((h) =>
      readFileSync(join(h, 'settings.json'), 'utf8'),
    );

    for (const op of API_OPERATIONS) {
      const { request, message } = MALFORMED[op];
      const expected = {
        error: {
          name: 'InvalidRequestError',
          code: 'invalid_request',
          message: `${op}: ${message}`,
        },
      };
      await expect(app.invoke(op, request), `${op} over IPC`).resolves.toEqual(expected);
      const overHttp = await post(ui, op, request);
      expect(overHttp, `${op} over HTTP`).toEqual({ status: 400, envelope: expected });
    }

    expect([appHome, serveHome].map((h) => readFileSync(join(h, 'settings.json'), 'utf8'))).toEqual(
      settingsBefore,
    );
  });

  it('a handler’s own failure is a 500 with name and message only, never a stack', async () => {
    const failing = Object.fromEntries(
      API_OPERATIONS.map((op) => [
        op,
        async () => {
          throw new TypeError('cannot read properties of undefined');
        },
      ]),
    ) as unknown as ApiHandlers;
    const { ui } = await uiServer(failing);
    const res = await post(ui, 'agents.list', {});
    expect(res).toEqual({
      status: 500,
      envelope: { error: { name: 'TypeError', message: 'cannot read properties of undefined' } },
    });
  });
});
