/**
 * 1Password through the real `keygate` CLI and `keygate serve`, with the fake client loaded via
 * KEYGATE_OP_CLIENT_MODULE in place of the SDK (1Password's servers are out of reach here).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { agentEnvironment } from '../helpers/agent-env.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import {
  keygate,
  REPO_ROOT,
  startServe,
  tempHome,
  type ServeHandle,
} from '../helpers/keygate-process.js';
import { fakeToken } from '../helpers/fake-op-client.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startUiServe } from '../helpers/ui-serve.js';

const run = promisify(execFile);
const TOKEN = fakeToken('serve-fake-token-CANARY-77');
const WRONG_TOKEN = fakeToken('wrong-token');
const OPENAI_CANARY = 'sk-serve-CANARY-openai-31';
const ANTHROPIC_CANARY = 'sk-serve-CANARY-anthropic-42';

let pki: TestPki;
let upstream: FakeUpstream;
let home: ReturnType<typeof tempHome>;
let serve: ServeHandle | undefined;
let env: NodeJS.ProcessEnv;
const state = {
  token: TOKEN,
  vaults: [{ id: 'v1', title: 'AI' }],
  items: [
    {
      id: 'i1',
      title: 'OpenAI',
      category: 'ApiCredentials',
      vaultId: 'v1',
      fields: [
        { id: 'credential', title: 'credential', fieldType: 'Concealed', value: OPENAI_CANARY },
      ],
    },
    {
      id: 'i2',
      title: 'Anthropic',
      category: 'ApiCredentials',
      vaultId: 'v1',
      fields: [
        { id: 'credential', title: 'credential', fieldType: 'Concealed', value: ANTHROPIC_CANARY },
      ],
    },
  ],
};

function writeState(): void {
  writeFileSync(env.FAKE_OP_STATE ?? '', JSON.stringify(state));
}

function sdkCalls(method: string): number {
  const path = env.FAKE_OP_CALLS ?? '';
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line === method).length
    : 0;
}

beforeAll(async () => {
  pki = await createTestPki();
  upstream = await startFakeUpstream({ hosts: ['api.openai.com', 'api.anthropic.com'], pki });
  home = tempHome();
  env = {
    KEYGATE_OP_CLIENT_MODULE: join(REPO_ROOT, 'test', 'fixtures', 'fake-op-module.mjs'),
    FAKE_OP_STATE: join(home.home, '..', `${home.home.split('/').at(-1)}-op-state.json`),
    FAKE_OP_CALLS: join(home.home, '..', `${home.home.split('/').at(-1)}-op-calls.log`),
    OP_SERVICE_ACCOUNT_TOKEN: '',
  };
  writeState();
});

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  home?.cleanup();
});

describe('keygate token', () => {
  it('refuses a malformed token (exit 2) and a rejected one (exit 1) without storing or echoing it', () => {
    const malformed = keygate(['token', 'set'], { home: home.home, env, input: 'not-a-token\n' });
    expect(malformed.status).toBe(2);
    expect(malformed.stderr).toMatch(/malformed|format/i);
    expect(malformed.stderr).not.toContain('not-a-token');
    const rejected = keygate(['token', 'set'], {
      home: home.home,
      env,
      input: `${WRONG_TOKEN}\n`,
    });
    expect(rejected.status).toBe(1);
    // The real SDK's words for a 401 at sign-in (recorded), as Keygate explains them.
    expect(rejected.stderr).toMatch(
      /1Password refused the token \(authentication error: you are not authenticated\)/,
    );
    expect(rejected.stderr).not.toContain(WRONG_TOKEN);
    expect(existsSync(join(home.home, 'onepassword-token.enc'))).toBe(false);
  });

  it('pairs a good token from stdin and stores it encrypted, 0600, outside settings.json', () => {
    const result = keygate(['token', 'set'], { home: home.home, env, input: `${TOKEN}\n` });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/token stored; 1 vault\(s\) visible/);
    for (const file of ['onepassword-token.enc', 'onepassword-token.key']) {
      expect(statSync(join(home.home, file)).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(home.home, file), 'latin1')).not.toContain(TOKEN);
    }
    expect(readFileSync(join(home.home, 'settings.json'), 'utf8')).not.toContain(TOKEN);
    const status = keygate(['token', 'status'], { home: home.home, env });
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/service-account token: stored/);
    expect(status.stdout).toMatch(/vaults visible: 1/);
    expect(status.stdout + status.stderr).not.toContain(TOKEN);
  });
});

describe('op:// mappings through keygate serve', () => {
  it('map add checks the reference live; map test prints a fingerprint', () => {
    const missing = keygate(
      ['map', 'add', 'api.openai.com', 'op://AI/Missing/credential', '--preset', 'openai'],
      { home: home.home, env },
    );
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/does not resolve/);
    const malformed = keygate(
      ['map', 'add', 'api.openai.com', 'op://AI/OpenAI', '--preset', 'openai'],
      { home: home.home, env },
    );
    expect(malformed.status).toBe(2);
    // A reference that fails to parse is shown by its scheme only: what follows may be a pasted
    // key (issue 9 §5), so the raw text never appears.
    expect(malformed.stderr).toMatch(/^keygate: ref op:\/\/…: secret reference has invalid format/);
    expect(malformed.stderr).not.toContain('AI/OpenAI');
    for (const [host, ref, preset] of [
      ['api.openai.com', 'op://AI/OpenAI/credential', 'openai'],
      ['api.anthropic.com', 'op://AI/Anthropic/credential', 'anthropic'],
    ] as const) {
      const added = keygate(['map', 'add', host, ref, '--preset', preset], {
        home: home.home,
        env,
      });
      expect(added.status, added.stderr).toBe(0);
    }
    const tested = keygate(['map', 'test', 'api.openai.com'], { home: home.home, env });
    expect(tested.status).toBe(0);
    expect(tested.stdout).toMatch(/^ok api\.openai\.com sha256:[0-9a-f]{12} \(\d+ characters\)$/m);
    expect(tested.stdout).not.toContain(OPENAI_CANARY);
  });

  it('injects the 1Password value, resolving once for many requests; a deleted item gives a clear 502', async () => {
    // Delete the Anthropic item before serve starts: its first use must fail cleanly.
    state.items = state.items.filter((item) => item.title !== 'Anthropic');
    writeState();
    // The CLI commands above made their own calls; count only serve's.
    const before = sdkCalls('resolveAll') + sdkCalls('resolve');
    serve = await startServe(
      home.home,
      ['--upstream-ca', pki.caPath, '--connect-to', `:443:127.0.0.1:${upstream.port}`],
      env,
    );
    const agentEnv = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...agentEnvironment(home.home),
    };
    for (let i = 0; i < 5; i++) {
      const { stdout } = await run(
        'curl',
        ['-sS', '--fail', `https://api.openai.com/v1/models?i=${i}`],
        { env: agentEnv },
      );
      // Upstream got the real key; its echo came back scrubbed.
      expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${OPENAI_CANARY}`);
      expect(JSON.parse(stdout).authorization).toBe('Bearer keygate-placeholder');
    }
    // One bulk prefetch at start (and maybe one more for the failing ref): never one per request.
    expect(sdkCalls('resolveAll') + sdkCalls('resolve') - before).toBeLessThanOrEqual(2);

    const { stdout } = await run(
      'curl',
      ['-sS', '-D', '-', 'https://api.anthropic.com/v1/messages'],
      { env: agentEnv },
    );
    // curl -D prints the CONNECT answer first, then the response.
    expect(stdout).toMatch(/^HTTP\/1\.1 502/m);
    expect(stdout).toMatch(/x-keygate-error: keygate_secret_unavailable/i);
    expect(stdout).toMatch(/api\.anthropic\.com/);
    expect(stdout).not.toContain(ANTHROPIC_CANARY);
    const logs = serve.stderr();
    for (const canary of [OPENAI_CANARY, ANTHROPIC_CANARY, TOKEN])
      expect(logs).not.toContain(canary);
  });

  it('an item deleted while serve runs: 502 once its cached value expires, and serve flags the mapping stale until it returns', async () => {
    await serve?.stop();
    serve = undefined;
    const ui = await startUiServe(
      home.home,
      [
        '--secret-ttl',
        '1',
        '--upstream-ca',
        pki.caPath,
        '--connect-to',
        `:443:127.0.0.1:${upstream.port}`,
      ],
      env,
    );
    serve = ui;
    const agentEnv = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...agentEnvironment(home.home),
    };
    const curl = async (path: string) =>
      (await run('curl', ['-sS', '-D', '-', `https://api.openai.com${path}`], { env: agentEnv }))
        .stdout;
    const openaiView = async () => {
      const response = await fetch(`${ui.uiOrigin}/api/mappings.list`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ui.uiToken}`, 'content-type': 'application/json' },
        body: '{}',
      });
      const { result } = (await response.json()) as { result: { host: string; stale?: string }[] };
      return result.find((m) => m.host === 'api.openai.com');
    };

    expect(await curl('/v1/before')).toMatch(/\r\n\r\nHTTP\/1\.1 200/);
    expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${OPENAI_CANARY}`);

    const openai = state.items.find((item) => item.title === 'OpenAI');
    state.items = state.items.filter((item) => item !== openai);
    writeState();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const deleted = await curl('/v1/deleted');
    expect(deleted).toMatch(/^HTTP\/1\.1 502/m);
    expect(deleted).toMatch(/x-keygate-error: keygate_secret_unavailable/i);
    expect(deleted).toMatch(/op:\/\/AI\/OpenAI\/credential/);
    expect((await openaiView())?.stale).toMatch(/itemNotFound|not found/i);
    // Headless, the problem the app would notify about is logged once, as a warning.
    const staleLine =
      /warn {2}A mapping has gone stale detail="api\.openai\.com: could not resolve op:\/\/AI\/OpenAI\/credential: .*not found/;
    await vi.waitFor(() => expect(serve?.stderr()).toMatch(staleLine), { timeout: 5_000 });
    // And `keygate map list` in another terminal shows serve's flag (through serve.json).
    const listed = keygate(['map', 'list'], { home: home.home, env });
    expect(listed.stdout).toMatch(
      /^api\.openai\.com\top:\/\/AI\/OpenAI\/credential\t.*\tSTALE: could not resolve .*not found/m,
    );
    // The Anthropic item was deleted in the test above and never came back.
    expect(listed.stdout).toMatch(/^api\.anthropic\.com\t.*\tSTALE: /m);

    if (openai) state.items.push(openai);
    writeState();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await curl('/v1/restored')).toMatch(/\r\n\r\nHTTP\/1\.1 200/);
    expect((await openaiView())?.stale).toBeUndefined();
    await vi.waitFor(
      () =>
        expect(serve?.stderr()).toMatch(
          /info {2}resolved was="A mapping has gone stale" detail="api\.openai\.com: /,
        ),
      { timeout: 5_000 },
    );
    expect(keygate(['map', 'list'], { home: home.home, env }).stdout).not.toMatch(
      /^api\.openai\.com\t.*STALE/m,
    );
    const logs = serve.stderr();
    expect(logs.match(/A mapping has gone stale detail="api\.openai\.com/g)).toHaveLength(1);
    for (const canary of [OPENAI_CANARY, ANTHROPIC_CANARY, TOKEN])
      expect(logs).not.toContain(canary);
  });

  it('doctor reports the 1Password connection', () => {
    const doctor = keygate(['doctor'], { home: home.home, env });
    expect(doctor.stdout).toMatch(
      /^ok {3}1password: connected \(stored token\), 1 vault\(s\) visible$/m,
    );
    expect(doctor.stdout).toMatch(
      /^ok {3}mapping api\.openai\.com: op:\/\/AI\/OpenAI\/credential is well-formed$/m,
    );
  });

  it('token clear forgets the stored token', () => {
    const cleared = keygate(['token', 'clear'], { home: home.home, env });
    expect(cleared.status).toBe(0);
    expect(existsSync(join(home.home, 'onepassword-token.enc'))).toBe(false);
    expect(keygate(['token', 'status'], { home: home.home, env }).stdout).toMatch(
      /service-account token: none/,
    );
  });
});
