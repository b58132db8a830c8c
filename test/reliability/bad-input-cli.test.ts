/**
 * The bad-input catalogue, part 2: the real `keygate` CLI, against the home of a real, running
 * `keygate serve`. Every refused command exits 2 (usage, invalid input) or 1 (failure) with a
 * message naming what is wrong, writes nothing to stdout, and leaves settings.json as it was;
 * `serve` answers `/healthz` right after each command, and a long-lived intercepted connection
 * and an SSE stream through it stay up through all of them.
 *
 * A CLI run costs about a second of CPU, so the commands run up front, four at a time, and each
 * case then checks its own result.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/engine/controller.js';
import { SettingsStore } from '../../src/engine/settings/settings-store.js';
import { SETTINGS_SCHEMA_VERSION } from '../../src/shared/settings-schema.js';
import { keygateAsync } from '../cli/cli-helpers.js';
import { healthz, startBystanders, type Bystanders } from '../helpers/bystanders.js';
import { startHostileUpstream, type HostileUpstream } from '../helpers/hostile-upstream.js';
import {
  REPO_ROOT,
  startServe,
  tempHome,
  type CliResult,
  type ServeHandle,
} from '../helpers/keygate-process.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';

const SECRET = 'sk-badinput-cli-CANARY-19ae';
const PASTED_KEY = 'sk-live-PASTED-cli-0123456789abcdef';

interface CliCase {
  name: string;
  /** Runs in serve's home unless it makes its own. */
  args: string[] | ((scratch: string) => string[]);
  /** Prepares a scratch home (or serve's) before the command runs. */
  setup?: (scratch: string) => void;
  input?: string;
  env?: NodeJS.ProcessEnv;
  status: number;
  stderr: RegExp;
  stdout?: RegExp;
  /** Extra checks on the scratch home (or serve's) afterwards. */
  after?: (scratch: string, result: CliResult) => void;
}

let pki: TestPki;
let upstream: HostileUpstream;
let home: ReturnType<typeof tempHome>;
let scratchRoot: ReturnType<typeof tempHome>;
let serve: ServeHandle;
let bystanders: Bystanders;
const results = new Map<string, { result: CliResult; health: number; settingsBefore: string }>();
/** Bystander checks, one at a time (they share one connection). */
let checks: Promise<void> = Promise.resolve();

function settingsText(): string {
  return readFileSync(join(home.home, 'settings.json'), 'utf8');
}

function mappingHosts(): string[] {
  return (JSON.parse(settingsText()) as { mappings: Array<{ host: string }> }).mappings.map(
    (m) => m.host,
  );
}

const FAKE_OP_STATE = (): string => join(scratchRoot.home, 'fake-op-state.json');

/** Commands that must be refused, in serve's home: settings.json must not change. */
const refused: CliCase[] = [
  {
    name: 'map add with an empty host',
    args: ['map', 'add', '', 'env://K'],
    status: 2,
    stderr: /^keygate: host is empty$/m,
  },
  {
    name: 'map add --header without a name',
    args: ['map', 'add', 'a.example.com', 'env://K', '--header'],
    status: 2,
    stderr: /^error: option '--header <name>' argument missing$/m,
  },
  {
    name: "map add --query ''",
    args: ['map', 'add', 'a.example.com', 'env://K', '--query', ''],
    status: 2,
    stderr: /^keygate: query parameter name is empty$/m,
  },
  {
    name: 'map add with a format template without {secret}',
    args: ['map', 'add', 'a.example.com', 'env://K', '--header', 'X-K', '--format', 'Key abc'],
    status: 2,
    stderr: /^keygate: format "Key abc" must contain \{secret\}/m,
  },
  {
    name: 'map add with op:/x',
    args: ['map', 'add', 'a.example.com', 'op:/x'],
    status: 2,
    stderr: /^keygate: ref \(not shown: it has no scheme:\/\/.*\): not a secret reference/m,
  },
  {
    name: 'map add with a wildcard in the wrong place',
    args: ['map', 'add', 'api.*.com', 'env://K'],
    status: 2,
    stderr:
      /^keygate: host "api\.\*\.com": a wildcard is only allowed as the whole leftmost label/m,
  },
  {
    name: 'map add with an IP and an impossible port',
    args: ['map', 'add', '1.2.3.4:99999', 'env://K'],
    status: 2,
    stderr: /^keygate: host "1\.2\.3\.4:99999": port "99999" is not a number from 1 to 65535$/m,
  },
  {
    name: 'map add --port abc',
    args: ['map', 'add', 'a.example.com', 'env://K', '--port', 'abc'],
    status: 2,
    stderr: /^error: option '--port <port>' argument 'abc' is invalid\. expected a port number/m,
  },
  {
    name: 'map add with an unknown option',
    args: ['map', 'add', 'a.example.com', 'env://K', '--bogus'],
    status: 2,
    stderr: /^error: unknown option '--bogus'$/m,
  },
  {
    name: 'map add with a pasted key as REF (never echoed)',
    args: ['map', 'add', 'a.example.com', PASTED_KEY],
    status: 2,
    stderr: /^keygate: ref \(not shown: it has no scheme:\/\/, so it may be a key\)/m,
    after: (_scratch, result) => expect(result.stderr + result.stdout).not.toContain(PASTED_KEY),
  },
  {
    name: 'map test for a host without a mapping',
    args: ['map', 'test', 'nothere.example.com'],
    status: 2,
    stderr: /^keygate: no mapping for nothere\.example\.com \(keygate map list\)$/m,
  },
  {
    name: 'agent add with a space in the name',
    args: ['agent', 'add', 'bad name'],
    status: 2,
    stderr: /^keygate: agent name "bad name": use 1-64 letters, digits, dot, dash or underscore$/m,
  },
  {
    name: 'agent add --hosts with an IP and a port',
    args: ['agent', 'add', 'porty', '--hosts', '1.2.3.4:443'],
    status: 2,
    stderr: /^keygate: host "1\.2\.3\.4:443": must not include a port; give the port separately$/m,
  },
  {
    name: 'serve --log-level with a typo (was silently ignored)',
    args: ['serve', '--port', '0', '--log-level', 'verbose'],
    status: 2,
    stderr:
      /^error: option '--log-level <level>' argument 'verbose' is invalid\. expected one of error, warn, info, debug$/m,
  },
  {
    name: 'token set with a malformed token (never echoed)',
    args: ['token', 'set'],
    input: 'not-a-token-CANARY-77\n',
    env: {
      KEYGATE_OP_CLIENT_MODULE: join(REPO_ROOT, 'test', 'fixtures', 'fake-op-module.mjs'),
      OP_SERVICE_ACCOUNT_TOKEN: '',
    },
    status: 2,
    stderr: /^keygate: .*(malformed|invalid format)/m,
    after: (_scratch, result) => {
      expect(result.stderr + result.stdout).not.toContain('not-a-token-CANARY-77');
      expect(existsSync(join(home.home, 'onepassword-token.enc'))).toBe(false);
    },
  },
];

/** Settings files in trouble, each in a scratch home of its own (or serve's, said so). */
const settingsCases: CliCase[] = [
  {
    name: 'a corrupt settings.json: kept aside, the CLI says so, the command goes on',
    setup: (dir) => writeFileSync(join(dir, 'settings.json'), '{"agents": [{"token": "trunc'),
    args: (dir) => ['--home', dir, 'map', 'list', '--json'],
    status: 0,
    stdout: /^\[\]$/m,
    stderr:
      /^keygate: settings\.json was unreadable \(not valid JSON\); kept it as \S+settings\.json\.corrupt-\S+ and started fresh$/m,
    after: (dir, result) => {
      expect(result.stderr).not.toContain('trunc');
      const aside = readdirSync(dir).filter((n) => n.startsWith('settings.json.corrupt-'));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(dir, aside[0] ?? ''), 'utf8')).toBe('{"agents": [{"token": "trunc');
    },
  },
  {
    name: 'an empty (0-byte) settings.json: kept aside as corrupt',
    setup: (dir) => writeFileSync(join(dir, 'settings.json'), ''),
    args: (dir) => ['--home', dir, 'agent', 'list'],
    status: 0,
    stderr: /^keygate: settings\.json was unreadable \(not valid JSON\); kept it as /m,
    after: (dir) =>
      expect(readdirSync(dir).filter((n) => n.startsWith('settings.json.corrupt-'))).toHaveLength(
        1,
      ),
  },
  {
    name: 'a settings.json that fails the schema: kept aside, naming the fields',
    setup: (dir) =>
      writeFileSync(
        join(dir, 'settings.json'),
        JSON.stringify({ schemaVersion: 1, proxy: { port: 'eighty' }, mappings: [{}] }),
      ),
    args: (dir) => ['--home', dir, 'map', 'list'],
    status: 0,
    stderr:
      /^keygate: settings\.json was unreadable \(schema validation failed: .*proxy\.port.*mappings\[0\]\.host/m,
  },
  {
    name: 'a settings.json from a future schema version: refused, untouched (exit 1)',
    setup: (dir) =>
      writeFileSync(
        join(dir, 'settings.json'),
        JSON.stringify({ schemaVersion: SETTINGS_SCHEMA_VERSION + 1, mappings: [] }),
      ),
    args: (dir) => ['--home', dir, 'map', 'add', 'a.example.com', 'env://K'],
    status: 1,
    stderr:
      /^keygate: settings: settings\.json was written by a newer Keygate \(schema \d+\); refusing to overwrite it/m,
    after: (dir) => {
      expect(readFileSync(join(dir, 'settings.json'), 'utf8')).toBe(
        JSON.stringify({ schemaVersion: SETTINGS_SCHEMA_VERSION + 1, mappings: [] }),
      );
      expect(readdirSync(dir)).toEqual(['settings.json']);
    },
  },
  {
    name: 'a home under a regular file (unwritable home): exit 1, ENOTDIR named',
    setup: (dir) => writeFileSync(join(dir, 'file'), ''),
    args: (dir) => ['--home', join(dir, 'file', 'home'), 'map', 'list'],
    status: 1,
    stderr: /^keygate: settings: Could not create the Keygate home \S+\/file\/home: ENOTDIR/m,
  },
  {
    name: 'a home that is a regular file: exit 1, EEXIST named',
    setup: (dir) => writeFileSync(join(dir, 'home-file'), ''),
    args: (dir) => ['--home', join(dir, 'home-file'), 'agent', 'list'],
    status: 1,
    stderr: /^keygate: settings: Could not create the Keygate home \S+home-file: EEXIST/m,
  },
  {
    name: 'a settings.json that is a directory: exit 1, EISDIR named',
    setup: (dir) => mkdirSync(join(dir, 'settings.json')),
    args: (dir) => ['--home', dir, 'map', 'list'],
    status: 1,
    stderr: /^keygate: settings: Could not read \S+settings\.json: EISDIR/m,
  },
];

/** Accepted, in serve's home: serve picks each up. */
const accepted: CliCase[] = [
  {
    name: 'map add with op:// names containing spaces (valid)',
    args: ['map', 'add', 'spaces.example.com', 'op://a b/c/d'],
    status: 0,
    stdout: /^mapped spaces\.example\.com: .*op:\/\/a b\/c\/d$/m,
    stderr: /^$/,
  },
  {
    name: 'map add with ?attribute=otp (valid)',
    args: ['map', 'add', 'otp.example.com', 'op://v/i/f?attribute=otp'],
    status: 0,
    stdout: /^mapped otp\.example\.com: /m,
    stderr: /^$/,
  },
  {
    name: 'map add onto a read-only (0444) settings.json: saved, the file is 0600 again',
    setup: () => chmodSync(join(home.home, 'settings.json'), 0o444),
    args: ['map', 'add', 'readonly.example.com', 'env://K'],
    status: 0,
    stdout: /^mapped readonly\.example\.com: /m,
    stderr: /^$/,
    after: () => {
      expect(statSync(join(home.home, 'settings.json')).mode & 0o777).toBe(0o600);
      expect(mappingHosts()).toContain('readonly.example.com');
    },
  },
];

async function runCase(c: CliCase): Promise<void> {
  const scratch = join(scratchRoot.home, c.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60));
  mkdirSync(scratch, { recursive: true });
  c.setup?.(scratch);
  const settingsBefore = settingsText();
  const args = typeof c.args === 'function' ? c.args(scratch) : c.args;
  const result = await keygateAsync(args, {
    ...(typeof c.args === 'function' ? {} : { home: home.home }),
    ...(c.input !== undefined ? { input: c.input } : {}),
    env: { FAKE_OP_STATE: FAKE_OP_STATE(), ...c.env },
  });
  const health = (await healthz(serve.port)).status;
  results.set(c.name, { result, health, settingsBefore });
  // The bystanders right after each command too (one check at a time: they share a connection).
  checks = checks.then(() => bystanders.check());
  await checks;
}

async function pool(cases: CliCase[], width: number): Promise<void> {
  const queue = [...cases];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await runCase(c);
    }),
  );
}

beforeAll(async () => {
  pki = await createTestPki();
  upstream = await startHostileUpstream({ pki, hosts: ['api.openai.com'] });
  home = tempHome('keygate-badinput-cli-');
  scratchRoot = tempHome('keygate-badinput-scratch-');
  writeFileSync(FAKE_OP_STATE(), JSON.stringify({ token: 'ops_x', vaults: [], items: [] }));
  // Set up in-process (a CLI run costs a second): one mapping, then serve adds the default agent.
  const store = SettingsStore.open(home.home);
  await new Controller({ store, home: home.home }).handlers['mappings.upsert']({
    host: 'api.openai.com',
    ref: 'env://OPENAI_KEY',
    preset: 'openai',
  });
  store.close();
  serve = await startServe(
    home.home,
    ['--upstream-ca', pki.caPath, '--connect-to', `api.openai.com:443:127.0.0.1:${upstream.port}`],
    { OPENAI_KEY: SECRET },
  );
  const agentToken = (JSON.parse(settingsText()) as { agents: Array<{ token: string }> }).agents[0]
    ?.token;
  bystanders = await startBystanders({
    proxyPort: serve.port,
    proxyUrl: `http://default:${agentToken}@127.0.0.1:${serve.port}`,
    caPem: readFileSync(join(home.home, 'ca', 'ca.pem'), 'utf8'),
    host: 'api.openai.com',
  });
  const settingsAtStart = settingsText();
  await pool([...refused, ...settingsCases], 4);
  // Nothing refused may have touched serve's settings.
  expect(settingsText()).toBe(settingsAtStart);
  for (const c of accepted) await runCase(c);
}, 120_000);

afterEach(async () => {
  await bystanders.check();
});

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  home?.cleanup();
  scratchRoot?.cleanup();
});

function check(c: CliCase): void {
  const ran = results.get(c.name);
  expect(ran, 'the command did not run').toBeDefined();
  const { result, health } = ran as NonNullable<typeof ran>;
  const context = `keygate ${JSON.stringify(c.args)}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  expect(result.status, context).toBe(c.status);
  expect(result.stderr, context).toMatch(c.stderr);
  if (c.stdout) expect(result.stdout, context).toMatch(c.stdout);
  else if (c.status !== 0) expect(result.stdout, context).toBe('');
  expect(result.stderr + result.stdout).not.toContain(SECRET);
  // serve answered /healthz right after this command.
  expect(health).toBe(200);
  const scratch = join(scratchRoot.home, c.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60));
  c.after?.(scratch, result);
}

describe('refused commands, in the home of a running serve', () => {
  it.each(refused.map((c) => ({ ...c, label: c.name })))(
    '$label → exit $status, named; settings unchanged',
    (c) => {
      check(c);
    },
  );
});

describe('settings files in trouble', () => {
  it.each(settingsCases.map((c) => ({ ...c, label: c.name })))('$label', (c) => {
    check(c);
  });
});

describe('accepted commands', () => {
  it.each(accepted.map((c) => ({ ...c, label: c.name })))('$label', (c) => {
    check(c);
    expect(results.get(c.name)?.settingsBefore).not.toBe(settingsText());
  });

  it('serve picked up every accepted mapping from the file, and still injects', async () => {
    expect(mappingHosts()).toEqual(
      expect.arrayContaining([
        'api.openai.com',
        'spaces.example.com',
        'otp.example.com',
        'readonly.example.com',
      ]),
    );
    // serve reloads on its own (conf polls, 500 ms + 1 s debounce): its log says so.
    await expect
      .poll(() => /rules reloaded mappings=4/.test(serve.stderr()), { timeout: 5_000 })
      .toBe(true);
    expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
  });
});

describe('bystanders', () => {
  it('the long-lived connection and the SSE stream through serve saw every command through', async () => {
    const { exchanges, events } = await bystanders.finish();
    // One exchange after each command and after each case, plus the first and the last.
    const commands = refused.length + settingsCases.length + accepted.length;
    expect(exchanges).toBeGreaterThanOrEqual(2 * commands + 2);
    expect(events).toBeGreaterThan(commands);
    expect(serve.child.exitCode).toBeNull();
    expect(serve.stderr()).not.toContain(SECRET);
    bystanders = { check: async () => undefined, finish: bystanders.finish };
  });
});
