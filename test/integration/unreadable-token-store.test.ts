/**
 * Issue 10 §3: an unreadable token store never stops Keygate. Garbage in onepassword-token.enc
 * (on a Mac: the Keychain item reset, a denied prompt, a re-signed app) leaves 1Password
 * unavailable with the reason in `token.status`, `keygate doctor` and serve's log, while
 * `keygate serve` starts, env:// mappings keep injecting, and `token clear` / `token set` repair
 * it, seen by the running serve too. The real CLI and serve over a temp home; 1Password is the
 * shared fake (KEYGATE_OP_CLIENT_MODULE), the upstream a real TLS server.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TokenStatus } from '../../src/shared/api.js';
import { agentEnvironment } from '../helpers/agent-env.js';
import { fakeToken } from '../helpers/fake-op-client.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { keygate, REPO_ROOT, tempHome } from '../helpers/keygate-process.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startUiServe, type UiServeHandle } from '../helpers/ui-serve.js';

const run = promisify(execFile);
const TOKEN = fakeToken('unreadable-store-CANARY-1138');
const ENV_CANARY = 'sk-unreadable-store-env-CANARY-2187';
const UNREADABLE = /the stored 1Password token could not be read \(.*onepassword-token\.enc/;

let pki: TestPki;
let upstream: FakeUpstream;
let home: ReturnType<typeof tempHome>;
let serve: UiServeHandle | undefined;
let env: NodeJS.ProcessEnv;

function spoilTokenFile(): void {
  writeFileSync(join(home.home, 'onepassword-token.enc'), 'garbage, not a Keygate token file\n', {
    mode: 0o600,
  });
}

async function serveStatus(): Promise<TokenStatus> {
  const ui = serve as UiServeHandle;
  const response = await fetch(`${ui.uiOrigin}/api/token.status`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ui.uiToken}`, 'content-type': 'application/json' },
    body: '{}',
  });
  return ((await response.json()) as { result: TokenStatus }).result;
}

beforeAll(async () => {
  pki = await createTestPki();
  upstream = await startFakeUpstream({ hosts: ['api.example.com'], pki });
  home = tempHome();
  const opState = join(home.home, '..', `${home.home.split('/').at(-1)}-op-state.json`);
  writeFileSync(opState, JSON.stringify({ token: TOKEN, vaults: [{ id: 'v1', title: 'AI' }] }));
  env = {
    KEYGATE_OP_CLIENT_MODULE: join(REPO_ROOT, 'test', 'fixtures', 'fake-op-module.mjs'),
    FAKE_OP_STATE: opState,
    OP_SERVICE_ACCOUNT_TOKEN: '',
  };
  // A token that was stored fine, then its file went bad (the key file stays).
  expect(keygate(['token', 'set'], { home: home.home, env, input: `${TOKEN}\n` }).status).toBe(0);
  expect(
    keygate(['map', 'add', 'api.example.com', 'env://UNREADABLE_TEST_KEY', '--bearer'], {
      home: home.home,
      env,
    }).status,
  ).toBe(0);
  spoilTokenFile();
});

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  home?.cleanup();
});

describe('garbage in onepassword-token.enc', () => {
  it('`token status` and `doctor` name the reason and the remedy, and fail', () => {
    const status = keygate(['token', 'status'], { home: home.home, env });
    expect(status.status).toBe(1);
    expect(status.stdout).toMatch(/^service-account token: none$/m);
    expect(status.stdout).toMatch(new RegExp(`^error: ${UNREADABLE.source}`, 'm'));
    // The remedy, said once: the store's own words, not repeated by the service.
    const failures = status.stdout.split('\n').filter((line) => line.includes('could not be read'));
    expect(failures.length).toBeGreaterThan(0);
    for (const line of failures) expect(line.match(/keygate token clear/g)).toHaveLength(1);
    expect(status.stdout).toMatch(/run `keygate token clear` and set the token again\)$/m);
    const doctor = keygate(['doctor'], { home: home.home, env });
    expect(doctor.status).toBe(1);
    expect(doctor.stdout).toMatch(new RegExp(`^FAIL 1password: ${UNREADABLE.source}`, 'm'));
  });

  it('serve starts anyway: 1Password unavailable in status, env:// still injected', async () => {
    serve = await startUiServe(
      home.home,
      ['--upstream-ca', pki.caPath, '--connect-to', `:443:127.0.0.1:${upstream.port}`],
      { ...env, UNREADABLE_TEST_KEY: ENV_CANARY },
    );
    const status = await serveStatus();
    expect(status.tokenSource).toBe('none');
    expect(status.error).toMatch(UNREADABLE);
    expect(status.accounts).toEqual([
      expect.objectContaining({
        account: 'default',
        connected: false,
        problem: 'token-store',
        lastError: expect.stringMatching(UNREADABLE) as unknown,
      }),
    ]);
    // Headless, the problem the app would notify about is a warning in serve's log.
    await vi.waitFor(
      () => expect(serve?.stderr()).toMatch(/warn {2}The 1Password token could not be read/),
      { timeout: 5_000 },
    );

    const agentEnv = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...agentEnvironment(home.home),
    };
    const { stdout } = await run('curl', ['-sS', '--fail', 'https://api.example.com/v1/models'], {
      env: agentEnv,
    });
    expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${ENV_CANARY}`);
    expect(JSON.parse(stdout).authorization).toBe('Bearer keygate-placeholder');
  });

  it('`token clear` removes the garbage, and the running serve drops the problem', async () => {
    const cleared = keygate(['token', 'clear'], { home: home.home, env });
    expect(cleared.status, cleared.stderr).toBe(0);
    expect(cleared.stdout).toBe('stored token cleared\n');
    expect(existsSync(join(home.home, 'onepassword-token.enc'))).toBe(false);
    expect(existsSync(join(home.home, 'onepassword-token.key'))).toBe(false);
    const status = keygate(['token', 'status'], { home: home.home, env });
    expect(status.status).toBe(0);
    expect(status.stdout).toBe('service-account token: none\n');
    await vi.waitFor(
      async () => expect(await serveStatus()).toEqual({ tokenSource: 'none', accounts: [] }),
      { timeout: 5_000 },
    );
  });

  it('`token set` overwrites the garbage, and the running serve uses the new token', async () => {
    spoilTokenFile();
    expect(keygate(['token', 'status'], { home: home.home, env }).stdout).toMatch(UNREADABLE);
    const set = keygate(['token', 'set'], { home: home.home, env, input: `${TOKEN}\n` });
    expect(set.status, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/token stored; 1 vault\(s\) visible/);
    const status = keygate(['token', 'status'], { home: home.home, env });
    expect(status.status, status.stdout).toBe(0);
    expect(status.stdout).toMatch(/^service-account token: stored/m);
    await vi.waitFor(
      async () => {
        const seen = await serveStatus();
        expect(seen.tokenSource).toBe('file');
        expect(seen.error).toBeUndefined();
      },
      { timeout: 5_000 },
    );
    const logs = serve?.stderr() ?? '';
    for (const secret of [TOKEN, ENV_CANARY]) expect(logs).not.toContain(secret);
  });
});
