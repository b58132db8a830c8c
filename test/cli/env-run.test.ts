/**
 * CLI contract: `keygate env` and `keygate run`. The home lives under a directory whose name holds
 * a quote and a backslash, so every path printed has to survive sh and fish quoting. One
 * `keygate serve` is shared: env and run must point agents at its live port.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KEYGATE_BIN,
  keygate,
  startServe,
  tempHome,
  type ServeHandle,
} from '../helpers/keygate-process.js';
import { decodeFishWord, keygateAll, lines, readSettings } from './cli-helpers.js';

const PLACEHOLDER = 'keygate-placeholder';

/** What an agent's shell may already have: every one of these must be replaced or removed. */
const INHERITED: Record<string, string> = {
  HTTPS_PROXY: 'http://evil-upper:1',
  https_proxy: 'http://evil-lower:1',
  HTTP_PROXY: 'http://evil-upper:2',
  http_proxy: 'http://evil-lower:2',
  Https_Proxy: 'http://evil-mixed:3',
  NO_PROXY: '*',
  no_proxy: '*',
  SSL_CERT_FILE: '/evil/ssl-cert-file.pem',
  ssl_cert_file: '/evil/lower-ssl-cert-file.pem',
  REQUESTS_CA_BUNDLE: '/evil/requests.pem',
  CURL_CA_BUNDLE: '/evil/curl.pem',
  GIT_SSL_CAINFO: '/evil/git.pem',
  NODE_EXTRA_CA_CERTS: '/evil/node-extra.pem',
  CODEX_CA_CERTIFICATE: '/evil/codex.pem',
  NODE_USE_ENV_PROXY: '0',
  // The user's own Node flags stay; Keygate's preload is added after them (issue 11 §1).
  NODE_OPTIONS: '--no-deprecation',
  OPENAI_API_KEY: 'sk-leaked-real-key',
  openai_api_key: 'sk-leaked-real-key-lower',
  KEYGATE_TEST_KEEP: 'kept as is',
};

let home: ReturnType<typeof tempHome>;
let caPath: string;
let bundlePath: string;
let token: string;

/** Evaluates `keygate env` output in a real POSIX sh over INHERITED; returns the result. */
function evalInSh(script: string): Record<string, string> {
  const result = spawnSync('sh', ['-c', 'eval "$1" && exec env', 'sh', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...INHERITED },
  });
  expect(result.status, result.stderr).toBe(0);
  return parseEnv(result.stdout);
}

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of lines(text)) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

function expectAgentEnv(env: Record<string, string>, port: number): void {
  const url = `http://default:${token}@127.0.0.1:${port}`;
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'])
    expect(env[name], name).toBe(url);
  expect(env.NO_PROXY).toBe('localhost,127.0.0.1,::1');
  expect(env.no_proxy).toBe('localhost,127.0.0.1,::1');
  expect(env.NODE_EXTRA_CA_CERTS).toBe(caPath);
  expect(env.CODEX_CA_CERTIFICATE).toBe(caPath);
  for (const name of ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO'])
    expect(env[name], name).toBe(bundlePath);
  expect(env.NODE_USE_ENV_PROXY).toBe('1');
  expect(env.OPENAI_API_KEY).toBe(PLACEHOLDER);
  const preload = /(?:^| )--import=(file:\S+\/agent-preload\/node-fetch-proxy\.js)$/.exec(
    env.NODE_OPTIONS ?? '',
  );
  expect(preload, env.NODE_OPTIONS).not.toBeNull();
  expect(existsSync(fileURLToPath(preload?.[1] ?? 'file:///none'))).toBe(true);
}

beforeAll(() => {
  home = tempHome(`keygate it's a \\\\ test-`);
  const added = keygate(['map', 'add', 'api.openai.com', 'env://KG_T_ENV_OPENAI'], {
    home: home.home,
  });
  expect(added.status, added.stderr).toBe(0);
  caPath = join(home.home, 'ca', 'ca.pem');
  bundlePath = join(home.home, 'ca', 'ca-bundle.pem');
});
afterAll(() => home.cleanup());

describe('keygate env', () => {
  let shOutput = '';

  it('prints sh exports that survive eval, replacing what the shell had', () => {
    const result = keygate(['env'], { home: home.home });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    shOutput = result.stdout;
    for (const line of lines(shOutput)) expect(line).toMatch(/^export [A-Za-z_][A-Za-z0-9_]*='/);
    // `env` creates the default agent on first use.
    const agent = readSettings(home.home).agents.find((a) => a.name === 'default');
    token = agent?.token ?? '';
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const env = evalInSh(shOutput);
    expectAgentEnv(env, readSettings(home.home).proxy.port);
    expect(env.KEYGATE_TEST_KEEP).toBe('kept as is');
    // The replacing CA variables get public roots plus the Keygate CA, not the CA alone.
    const ca = readFileSync(caPath, 'utf8');
    const bundle = readFileSync(bundlePath, 'utf8');
    expect(bundle).toContain(ca.trim());
    expect(bundle.match(/BEGIN CERTIFICATE/g)?.length).toBeGreaterThan(10);
  });

  it('prints fish `set -gx` lines with the same values, quoted for fish', () => {
    const result = keygate(['env', '--shell', 'fish'], { home: home.home });
    expect(result.status, result.stderr).toBe(0);
    const env: Record<string, string> = {};
    for (const line of lines(result.stdout)) {
      const match = /^set -gx ([A-Za-z_][A-Za-z0-9_]*) ('.*');$/.exec(line);
      expect(match, line).not.toBeNull();
      env[match?.[1] ?? ''] = decodeFishWord(match?.[2] ?? '');
    }
    expectAgentEnv(env, readSettings(home.home).proxy.port);
    expect(Object.keys(env)).toEqual(
      lines(shOutput).map((line) => /^export ([^=]+)=/.exec(line)?.[1]),
    );
  });

  it('refuses an unknown agent or shell with exit 2', async () => {
    const [agent, shell] = await keygateAll(
      [
        ['env', '--agent', 'ghost'],
        ['env', '--shell', 'zsh'],
      ],
      { home: home.home },
    );
    expect(agent?.status).toBe(2);
    expect(agent?.stderr).toMatch(/no agent named "ghost"/);
    expect(shell?.status).toBe(2);
    expect(shell?.stderr).toMatch(/--shell zsh: expected sh or fish/);
    expect(agent?.stdout).toBe('');
    expect(shell?.stdout).toBe('');
  });
});

describe('first use from several processes at once', () => {
  it('every process agrees on one CA and one default agent', async () => {
    // The app, serve and a shell's `keygate env` may all be the first to touch a home. Each used
    // to create the CA or the settings over another's (about one round in five lost: a CA
    // "incomplete" refusal, or a default-agent token that no longer matched settings.json).
    for (let round = 0; round < 2; round += 1) {
      const fresh = tempHome('keygate-cli-first-');
      try {
        const results = await keygateAll(
          Array.from({ length: 6 }, () => ['env']),
          { home: fresh.home },
        );
        for (const result of results) expect(result.status, result.stderr).toBe(0);
        expect(new Set(results.map((result) => result.stdout)).size).toBe(1);
        const agents = readSettings(fresh.home).agents;
        expect(agents).toHaveLength(1);
        expect(results[0]?.stdout).toContain(`default:${agents[0]?.token ?? 'none'}@`);
        expect(readdirSync(join(fresh.home, 'ca')).sort()).toEqual([
          'ca-bundle.pem',
          'ca-key.pem',
          'ca.pem',
        ]);
      } finally {
        fresh.cleanup();
      }
    }
  });
});

describe('with keygate serve running', () => {
  let serve: ServeHandle;

  beforeAll(async () => {
    serve = await startServe(home.home);
  });
  afterAll(async () => {
    await serve.stop();
  });

  it('env, run and doctor use the live port', async () => {
    expect(serve.port).not.toBe(readSettings(home.home).proxy.port);
    const [env, run, doctor] = await keygateAll([['env'], ['run', '--', 'env'], ['doctor']], {
      home: home.home,
      env: { ...INHERITED, KG_T_ENV_OPENAI: 'sk-real' },
    });
    expect(env?.status, env?.stderr).toBe(0);
    const evaluated = evalInSh(env?.stdout ?? '');
    expectAgentEnv(evaluated, serve.port);
    expect(evaluated.NODE_OPTIONS).toMatch(/^--no-deprecation --import=file:/);

    expect(run?.status, run?.stderr).toBe(0);
    const child = parseEnv(run?.stdout ?? '');
    expectAgentEnv(child, serve.port);
    // Inherited copies are gone in every spelling, not only the ones Keygate sets.
    for (const name of ['Https_Proxy', 'ssl_cert_file', 'openai_api_key'])
      expect(child[name], name).toBeUndefined();
    for (const [name, value] of Object.entries(child)) {
      expect(`${name}=${value}`).not.toMatch(/evil|leaked/);
      if (name.toUpperCase() === 'NO_PROXY') expect(value).not.toBe('*');
    }
    expect(child.KEYGATE_TEST_KEEP).toBe('kept as is');
    expect(child.NODE_OPTIONS).toMatch(/^--no-deprecation --import=file:\S+$/);
    // The variable an env:// mapping reads is serve's secret: never the agent's, and run says so.
    expect(child.KG_T_ENV_OPENAI).toBeUndefined();
    expect(run?.stderr).toContain(
      'keygate run: not passing KG_T_ENV_OPENAI to env: env:// mappings read it, and the agent must hold only the placeholder',
    );
    expect(run?.stderr).not.toContain('sk-real');

    expect(doctor?.status, doctor?.stdout).toBe(0);
    expect(doctor?.stdout).toContain(`ok   port: Keygate is listening on 127.0.0.1:${serve.port}`);
  });

  it('run passes the exit code through, and reports a missing or unknown command', async () => {
    const cases: [string[], number][] = [
      [['run', '--', 'sh', '-c', 'exit 7'], 7],
      [['run', '--', 'sh', '-c', 'kill -TERM $$'], 128 + 15],
      [['run', '--', 'keygate-no-such-command-xyz', '--flag'], 127],
      [['run'], 2],
      [['run', '--agent', 'ghost', '--', 'true'], 2],
    ];
    const results = await keygateAll(
      cases.map(([args]) => args),
      { home: home.home },
    );
    results.forEach((result, i) => {
      const [args, status] = cases[i] ?? [[], -1];
      expect({ args, status: result.status }).toEqual({ args, status });
    });
    expect(results[2]?.stderr).toMatch(
      /keygate run: cannot start keygate-no-such-command-xyz: command not found/,
    );
    expect(results[3]?.stderr).toMatch(/missing required argument 'command'/);
    expect(results[4]?.stderr).toMatch(/no agent named "ghost"/);
  });

  it('run connects stdin, stdout and stderr to the command', () => {
    const result = keygate(
      ['run', '--', 'sh', '-c', 'cat; echo "to stderr" >&2; printf "%s" "$HTTPS_PROXY"'],
      { home: home.home, input: 'from stdin\n' },
    );
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`from stdin\nhttp://default:${token}@127.0.0.1:${serve.port}`);
    expect(result.stderr).toBe('to stderr\n');
  });

  it('run forwards SIGTERM to the command', async () => {
    const child = spawn(
      process.execPath,
      [
        KEYGATE_BIN,
        '--home',
        home.home,
        'run',
        '--',
        'sh',
        '-c',
        'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.05; done',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes('ready')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(42);
    expect(stdout).toContain('got-term');
  });
});

describe('after keygate serve stops', () => {
  it('env falls back to the configured port, and ignores a stale serve.json', async () => {
    const configured = readSettings(home.home).proxy.port;
    const first = keygate(['env'], { home: home.home });
    expect(evalInSh(first.stdout).HTTPS_PROXY).toBe(
      `http://default:${token}@127.0.0.1:${configured}`,
    );

    // A serve.json left behind by a process that no longer exists.
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], {
      encoding: 'utf8',
    });
    writeFileSync(
      join(home.home, 'serve.json'),
      JSON.stringify({ pid: Number(dead.stdout.trim()), host: '127.0.0.1', port: 1 }),
    );
    const stale = keygate(['env'], { home: home.home });
    expect(evalInSh(stale.stdout).HTTPS_PROXY).toBe(
      `http://default:${token}@127.0.0.1:${configured}`,
    );
  });
});
