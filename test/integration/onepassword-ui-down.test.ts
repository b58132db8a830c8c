/**
 * `keygate serve --ui` while 1Password is down or the token is bad: the UI's 1Password operations
 * fail with a clear error, and serve stays up (an unhandled rejection used to end it). The fake
 * client module throws what the real SDK throws (recorded by sdk-contract.test.ts).
 */
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeToken } from '../helpers/fake-op-client.js';
import { REPO_ROOT } from '../helpers/keygate-process.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { startUiServe, type UiServeHandle } from '../helpers/ui-serve.js';

const tempDir = tempDirs('keygate-op-ui-down-');
let serve: UiServeHandle | undefined;

afterEach(async () => {
  await serve?.stop();
  serve = undefined;
});

function api(
  handle: UiServeHandle,
  op: string,
  body: unknown = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: handle.uiPort,
        method: 'POST',
        path: `/api/${op}`,
        headers: {
          authorization: `Bearer ${handle.uiToken}`,
          'content-type': 'application/json',
          origin: handle.uiOrigin,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function startWith(down: string | number | undefined, token: string) {
  const dir = tempDir();
  const statePath = join(dir, 'op-state.json');
  writeFileSync(
    statePath,
    JSON.stringify({
      token: fakeToken('the-right-one'),
      ...(down !== undefined ? { down } : {}),
      vaults: [{ id: 'v1', title: 'AI' }],
      items: [],
    }),
  );
  const home = join(dir, 'home');
  return startUiServe(home, [], {
    KEYGATE_OP_CLIENT_MODULE: join(REPO_ROOT, 'test', 'fixtures', 'fake-op-module.mjs'),
    FAKE_OP_STATE: statePath,
    OP_SERVICE_ACCOUNT_TOKEN: token,
  });
}

describe('onepassword.* over the UI server while 1Password fails', () => {
  it.each([
    ['1Password unreachable', 'reset', fakeToken('the-right-one'), /could not be reached/],
    ['a bad token', undefined, fakeToken('revoked'), /refused the service account token/],
  ])(
    '%s: items, vaults and suggestions answer with the reason; serve stays up',
    async (_l, down, token, reason) => {
      serve = await startWith(down, token);
      for (const [op, body] of [
        ['onepassword.items', { vaultId: 'v1' }],
        ['onepassword.vaults', {}],
        ['onepassword.suggestions', {}],
      ] as const) {
        const res = await api(serve, op, body);
        expect(res.status, res.body).toBeGreaterThanOrEqual(400);
        expect(res.body).toMatch(reason);
        expect(res.body).not.toMatch(/ops_/);
      }
      // Give a stray rejection time to end the process, then check it is still answering.
      await new Promise((r) => setTimeout(r, 300));
      expect(serve.child.exitCode).toBeNull();
      const status = await api(serve, 'proxy.status');
      expect(status.status).toBe(200);
      expect(serve.stderr()).not.toMatch(/unhandled|UnhandledPromiseRejection/i);
    },
  );
});
