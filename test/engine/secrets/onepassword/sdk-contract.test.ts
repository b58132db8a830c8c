/**
 * Contract tests: the REAL @1password/sdk (its WASM core) against a local sign-in server, with
 * only the network faked (test/helpers/op-sign-in-server.ts). For each way sign-in can go wrong,
 * record what the SDK throws, check the recording against test/fixtures/onepassword-sdk-errors.json
 * (the fake 1Password throws exactly these: test/fixtures/fake-onepassword.mjs), and assert what
 * Keygate makes of it: the category, the message, the account's problem and the app's alert, and
 * what `keygate token set` prints and how fast it exits.
 *
 * After an SDK upgrade changes its words: KEYGATE_RECORD_SDK_ERRORS=1 rewrites the fixture; review
 * the diff (and error-mapping.ts) before committing it.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { currentAlerts } from '../../../../src/shared/alerts.js';
import type { OnePasswordProblem } from '../../../../src/shared/api.js';
import {
  classifySdkError,
  DESKTOP_MISSING_MESSAGE,
  mapSdkError,
  problemOf,
  type OpErrorCategory,
} from '../../../../src/engine/secrets/onepassword/error-mapping.js';
import { OnePasswordSecretSource } from '../../../../src/engine/secrets/onepassword/onepassword-source.js';
import {
  pairDesktopAccount,
  PairingError,
  pairServiceAccount,
} from '../../../../src/engine/secrets/onepassword/pairing.js';
import { sdkClientFactory } from '../../../../src/engine/secrets/onepassword/sdk-loader.js';
import { Secret } from '../../../../src/engine/secrets/secret.js';
import { KEYGATE_BIN, REPO_ROOT } from '../../../helpers/keygate-process.js';
import {
  SCENARIOS,
  startSignInServer,
  wellFormedToken,
  type SignInScenario,
  type SignInServer,
} from '../../../helpers/op-sign-in-server.js';
import { tempDirs } from '../../../helpers/temp-dirs.js';
import { startUiServe } from '../../../helpers/ui-serve.js';
import {
  FakeOnePassword,
  SDK_RECORDINGS,
  sdkDesktopError,
  sdkTokenError,
  type SdkRecording,
} from '../../../helpers/fake-op-client.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'onepassword-sdk-errors.json');
const PROBE = join(REPO_ROOT, 'test', 'fixtures', 'op-sdk-probe.mjs');
const RECORD = process.env.KEYGATE_RECORD_SDK_ERRORS === '1';
const tempDir = tempDirs('keygate-sdk-contract-');

/** Tokens the SDK must refuse locally, before any request (and one it must accept). */
const TOKEN_SAMPLES: Readonly<Record<string, string>> = {
  empty: '',
  'no prefix': 'not-a-token',
  'upper-case prefix': 'OPS_abc',
  'prefix only': 'ops_',
  'not base64': 'ops_garbage',
  'empty JSON object': `ops_${Buffer.from('{}').toString('base64url')}`,
  'srpX not hex': wellFormedToken('127.0.0.1:1').replace(/^ops_(.*)$/, (_m, b64: string) => {
    const json = JSON.parse(Buffer.from(b64, 'base64url').toString()) as { srpX: string };
    json.srpX = Buffer.alloc(32, 2).toString('base64url');
    return `ops_${Buffer.from(JSON.stringify(json)).toString('base64url')}`;
  }),
};

interface Expected {
  category: OpErrorCategory | 'timeout';
  problem: OnePasswordProblem;
  title: string;
  /** What `keygate token set` says. */
  cli: RegExp;
}

const UNREACHABLE: Expected = {
  category: 'network',
  problem: 'unreachable',
  title: '1Password could not be reached',
  cli: /1Password could not be reached: the connection failed/,
};

const EXPECTED: Readonly<Record<SignInScenario, Expected>> = {
  401: {
    category: 'token-rejected',
    problem: 'sign-in',
    title: '1Password sign-in failed',
    cli: /1Password refused the token \(authentication error: you are not authenticated\)/,
  },
  403: {
    category: 'token-rejected',
    problem: 'sign-in',
    title: '1Password sign-in failed',
    cli: /1Password refused the token \(authentication error: you don't have the right permissions/,
  },
  429: {
    category: 'rate-limit',
    problem: 'rate-limit',
    title: '1Password rate limit reached',
    cli: /1Password rate limit reached/,
  },
  500: {
    category: 'server-error',
    problem: 'unavailable',
    title: '1Password is unavailable',
    cli: /1Password had a server error \(authentication error: internal server error\)/,
  },
  reset: UNREACHABLE,
  'closed-port': UNREACHABLE,
  dns: UNREACHABLE,
  untrusted: UNREACHABLE,
  hang: {
    category: 'timeout',
    problem: 'unreachable',
    title: '1Password could not be reached',
    cli: /1Password could not be reached: no answer within 20 s/,
  },
};

interface Fixture {
  sdkVersion: string;
  /** What createClient threw when sign-in (POST /api/v3/auth/start) went this way. */
  signIn: Record<string, SdkRecording>;
  /** What createClient threw for these tokens, before any request. */
  tokens: Record<string, SdkRecording>;
  /** What createClient threw in desktop mode (DesktopAuth) with no 1Password app here. */
  desktop: Record<string, SdkRecording>;
}

function run(
  args: string[],
  env: NodeJS.ProcessEnv,
  input = '',
): Promise<{
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  lastOutputMs: number;
}> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let lastOutputMs = 0;
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, KEYGATE_LOG: 'warn', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const mark = (): void => {
      lastOutputMs = performance.now() - started;
    };
    child.stdout.setEncoding('utf8').on('data', (c: string) => ((stdout += c), mark()));
    child.stderr.setEncoding('utf8').on('data', (c: string) => ((stderr += c), mark()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ms: performance.now() - started, lastOutputMs });
    });
    child.stdin.end(input);
  });
}

async function probe(
  token: string,
  caPath?: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<SdkRecording> {
  const out = await run([PROBE], {
    PROBE_TOKEN: token,
    ...(caPath ? { NODE_EXTRA_CA_CERTS: caPath } : {}),
    ...extraEnv,
  });
  expect(out.code, out.stderr).toBe(0);
  if (extraEnv.PROBE_DESKTOP_ACCOUNT) probeStderr.desktop = out.stderr;
  return JSON.parse(out.stdout.trim()) as SdkRecording;
}

/** What the real SDK printed itself, by case. */
const probeStderr: { desktop?: string } = {};

const servers = new Map<SignInScenario, SignInServer>();
const observed: Fixture = { sdkVersion: '', signIn: {}, tokens: {}, desktop: {} };

beforeAll(async () => {
  const pkg = join(REPO_ROOT, 'node_modules', '@1password', 'sdk', 'package.json');
  observed.sdkVersion = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  for (const scenario of SCENARIOS) servers.set(scenario, await startSignInServer(scenario));
  const signIn = await Promise.all(
    SCENARIOS.map(async (scenario) => {
      const server = servers.get(scenario) as SignInServer;
      return [String(scenario), await probe(wellFormedToken(server.address), server.caPath)];
    }),
  );
  observed.signIn = Object.fromEntries(signIn) as Record<string, SdkRecording>;
  const tokens = await Promise.all(
    Object.entries(TOKEN_SAMPLES).map(async ([name, token]) => [name, await probe(token)]),
  );
  observed.tokens = Object.fromEntries(tokens) as Record<string, SdkRecording>;
  observed.desktop['app missing'] = await probe('', undefined, {
    PROBE_DESKTOP_ACCOUNT: 'Keygate Test',
  });
  if (RECORD) writeFileSync(FIXTURE, `${JSON.stringify(observed, null, 2)}\n`);
}, 60_000);

afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.close()));
});

describe('the real SDK, recorded', () => {
  it('throws what the fixture (and so the fake) says, for every sign-in answer and token', () => {
    const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture;
    expect(observed).toEqual(fixture);
    // The fake reads the very same file.
    expect(SDK_RECORDINGS).toEqual(fixture);
  });

  it('reached the sign-in endpoint where there was one', () => {
    for (const scenario of [401, 403, 429, 500, 'hang'] as const) {
      expect(servers.get(scenario)?.requests).toEqual(['POST /api/v3/auth/start']);
    }
  });

  it.each(Object.keys(TOKEN_SAMPLES))(
    'token "%s": the fake refuses it exactly as the real SDK does',
    async (name) => {
      const real = observed.tokens[name] as SdkRecording;
      expect(real.outcome).toBe('threw');
      const fake = sdkTokenError(TOKEN_SAMPLES[name] as string);
      expect(fake?.message).toBe(real.message);
      expect(classifySdkError(fake).category).toBe('invalid-token');
      const store = new FakeOnePassword();
      await expect(
        store.factory({
          kind: 'service-account',
          token: new Secret(TOKEN_SAMPLES[name] as string),
        }),
      ).rejects.toThrow(real.message as string);
    },
  );

  it('a well-formed token passes the fake, as it passes the real SDK (which then signs in)', () => {
    expect(observed.signIn['401']?.outcome).toBe('threw');
    expect(sdkTokenError(wellFormedToken('127.0.0.1:1'))).toBeUndefined();
  });
});

describe.each(SCENARIOS)('sign-in answered %s', (scenario) => {
  const expected = EXPECTED[scenario];

  it('Keygate classifies it, says it plainly, and alerts with the right title', async () => {
    const recording = observed.signIn[String(scenario)] as SdkRecording;
    if (expected.category === 'timeout') {
      expect(recording).toEqual({ outcome: 'hung' });
      return;
    }
    expect(recording.outcome).toBe('threw');
    const thrown = new Error(recording.message);
    expect(classifySdkError(thrown).category).toBe(expected.category);
    const mapped = mapSdkError(thrown);
    expect(problemOf(mapped)).toBe(expected.problem);
    expect(mapped.message).not.toMatch(/could not be paired|compatibility issue/);

    // The account's status and the app's alert, through the real source.
    const source = new OnePasswordSecretSource({
      factory: () => Promise.reject(new Error(recording.message)),
      accounts: () => [
        { name: 'default', auth: { kind: 'service-account', token: new Secret('ops_x') } },
      ],
    });
    await expect(
      source.resolve('op://AI/OpenAI/credential', AbortSignal.timeout(5000)),
    ).rejects.toThrow(mapped.message);
    const [status] = source.status();
    expect(status).toMatchObject({ problem: expected.problem, lastError: mapped.message });
    const [alert] = currentAlerts({ accounts: source.status(), mappings: [] });
    expect(alert?.title).toBe(expected.title);

    // Pairing (token set) says the same kind of thing.
    const pairing = await pairServiceAccount(
      () => Promise.reject(new Error(recording.message)),
      new Secret(wellFormedToken('127.0.0.1:1')),
    ).catch((e: unknown) => e);
    expect(pairing).toBeInstanceOf(PairingError);
    expect((pairing as PairingError).message).toMatch(expected.cli);
  });

  it('`keygate token set` with the real SDK says so, stores nothing, and exits at once', async () => {
    const server = servers.get(scenario) as SignInServer;
    const home = tempDir();
    const out = await run(
      [KEYGATE_BIN, '--home', home, 'token', 'set'],
      { NODE_EXTRA_CA_CERTS: server.caPath, OP_SERVICE_ACCOUNT_TOKEN: '' },
      `${wellFormedToken(server.address)}\n`,
    );
    expect(out.stderr).toMatch(expected.cli);
    expect(out.stderr).not.toMatch(/ops_/);
    expect(out.code).toBe(1);
    const status = await run([KEYGATE_BIN, '--home', home, 'token', 'status'], {
      OP_SERVICE_ACCOUNT_TOKEN: '',
    });
    expect(status.stdout).toMatch(/service-account token: none/);
    // The SDK's abandoned fetch must not keep the process alive after the answer (it would,
    // for up to 300 s, on a server that never answers).
    expect(out.ms - out.lastOutputMs).toBeLessThan(3000);
  }, 60_000);
});

describe('desktop mode without the 1Password app (issue 10 §4)', () => {
  const NATIVE_LOG = /A critical error occurred while loading the native addon/;

  it('the real SDK prints a native stack and throws "Native library is not available."; Keygate says what to do', () => {
    const recording = observed.desktop['app missing'] as SdkRecording;
    expect(recording).toEqual({
      outcome: 'threw',
      name: 'Error',
      message: 'Native library is not available.',
    });
    expect(probeStderr.desktop).toMatch(NATIVE_LOG);
    expect(sdkDesktopError().message).toBe(recording.message);
    const thrown = new Error(recording.message);
    expect(classifySdkError(thrown).category).toBe('desktop-missing');
    const mapped = mapSdkError(thrown);
    expect(mapped.message).toBe(DESKTOP_MISSING_MESSAGE);
    expect(mapped.message).toMatch(/^1Password app not found, or its SDK integration is off/);
    expect(problemOf(mapped)).toBe('app-missing');
    expect(
      currentAlerts({
        accounts: [
          {
            account: 'Acme',
            mode: 'desktop',
            connected: false,
            lastError: mapped.message,
            problem: 'app-missing',
            readsThisHour: 0,
            hourlyLimit: 1000,
          },
        ],
        mappings: [],
      })[0]?.title,
    ).toBe('1Password app not found');
  });

  it("Keygate's own factory checks the account with the real SDK and prints nothing itself", async () => {
    const printed = vi.spyOn(console, 'error');
    try {
      const failure = await pairDesktopAccount(sdkClientFactory('0'), 'Acme').catch(
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(PairingError);
      expect((failure as PairingError).message).toBe(DESKTOP_MISSING_MESSAGE);
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
    }
  });

  it('"Use the 1Password app" over serve --ui: refused with that message, nothing stored, no stack on stderr', async () => {
    const home = tempDir();
    const serve = await startUiServe(home, [], { OP_SERVICE_ACCOUNT_TOKEN: '' });
    try {
      const response = await fetch(`${serve.uiOrigin}/api/token.useDesktop`, {
        method: 'POST',
        headers: { authorization: `Bearer ${serve.uiToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ accountName: 'Acme' }),
      });
      const body = (await response.json()) as { error?: { message: string } };
      expect(body.error?.message).toBe(DESKTOP_MISSING_MESSAGE);
      const settings = JSON.parse(readFileSync(join(home, 'settings.json'), 'utf8')) as {
        onePassword: Record<string, unknown>;
      };
      expect(settings.onePassword.desktopAccount).toBeUndefined();
      expect(serve.stderr()).not.toMatch(NATIVE_LOG);
      expect(serve.stderr()).not.toMatch(/Native library is not available/);
    } finally {
      await serve.stop();
    }
  }, 30_000);
});

describe('one-shot commands exit after their answer (issue 10 §2)', () => {
  it('`keygate map add` whose op:// check meets a silent 1Password saves, says so, and exits', async () => {
    const server = servers.get('hang') as SignInServer;
    const home = tempDir();
    const out = await run(
      [KEYGATE_BIN, '--home', home, 'map', 'add', 'api.openai.com', 'op://AI/OpenAI/credential'],
      {
        NODE_EXTRA_CA_CERTS: server.caPath,
        OP_SERVICE_ACCOUNT_TOKEN: wellFormedToken(server.address),
      },
    );
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^mapped api\.openai\.com/m);
    expect(out.stderr).not.toMatch(/ops_/);
    // The SDK's abandoned fetch to the silent server must not hold the process (up to 300 s).
    expect(out.ms - out.lastOutputMs).toBeLessThan(3000);
  }, 60_000);
});
