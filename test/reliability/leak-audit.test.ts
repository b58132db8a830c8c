/**
 * Leak audit: canary values for an API key (env://), a 1Password secret (op://) and a 1Password
 * service-account token go through every path Keygate has: injection (curl, undici, SSE), an
 * upstream that echoes the credential back, `map test`, errors (secret unavailable, upstream TLS
 * failure, host mismatch, plaintext refused), `keygate doctor`, `token set/status`, activity
 * events, debug logging at its most verbose, and crashes with stack traces. Then every file
 * under the homes, every log line, every event, every response the agent saw and every CLI
 * output is searched: the canaries must appear 0 times. The one place they must appear is the
 * upstream, which is where they are meant to go.
 *
 * Two engines: the real `keygate serve` (logs, files, CLI) and one in this process, because
 * activity events have no transport out of serve yet.
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keygateAsync } from '../cli/cli-helpers.js';
import { agentEnvironment } from '../helpers/agent-env.js';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { FakeOnePassword, fakeToken } from '../helpers/fake-op-client.js';
import { startHostileUpstream, type HostileUpstream } from '../helpers/hostile-upstream.js';
import {
  REPO_ROOT,
  startServe,
  tempHome,
  type CliResult,
  type ServeHandle,
} from '../helpers/keygate-process.js';
import { basicAuth, connectHead, rawExchange, requestOn } from '../helpers/raw-http.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';

const run = promisify(execFile);

const ENV_CANARY = 'sk-LEAKCANARY-env-7c1f9e2d55';
const OP_CANARY = 'sk-LEAKCANARY-op-93d2e1a0b4';
const TOKEN_CANARY = fakeToken('LEAKCANARY-token-4b8a0c66');
const CANARIES = { ENV_CANARY, OP_CANARY, TOKEN_CANARY };

let pki: TestPki;
let upstream: HostileUpstream;
let expired: HostileUpstream;
let home: ReturnType<typeof tempHome>;
let scratch: ReturnType<typeof tempHome>;
let serve: ServeHandle;
let fixture: EngineFixture;
const onePassword = new FakeOnePassword();

/** Everything the audit searches, by where it came from. */
const seen: Array<{ where: string; text: string }> = [];
const record = (where: string, text: string) => seen.push({ where, text });

function cliEnv(): NodeJS.ProcessEnv {
  return {
    KEYGATE_OP_CLIENT_MODULE: join(REPO_ROOT, 'test', 'fixtures', 'fake-op-module.mjs'),
    FAKE_OP_STATE: join(scratch.home, 'fake-op-state.json'),
    OP_SERVICE_ACCOUNT_TOKEN: '',
    KEYGATE_LOG: 'debug',
  };
}

async function cli(
  where: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; home?: string } = {},
): Promise<CliResult> {
  const result = await keygateAsync(args, {
    home: options.home ?? home.home,
    env: { ...cliEnv(), ...options.env },
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
  record(`cli ${where} stdout`, result.stdout);
  record(`cli ${where} stderr`, result.stderr);
  return result;
}

/** What an agent gets back: status line, every header, the body. */
async function agentRequest(where: string, proxyUrl: string, ca: string, url: string) {
  const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca } });
  try {
    const response = await request(url, {
      dispatcher,
      headers: { authorization: 'Bearer keygate-placeholder', 'x-api-key': 'keygate-placeholder' },
    });
    const body = await response.body.text();
    record(
      `response ${where}`,
      `${response.statusCode}\n${JSON.stringify(response.headers)}\n${body}`,
    );
    return { status: response.statusCode, headers: response.headers, body };
  } finally {
    await dispatcher.close();
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

beforeAll(async () => {
  pki = await createTestPki();
  upstream = await startHostileUpstream({
    pki,
    hosts: ['api.openai.com', 'op.example.com', 'missing.example.com'],
  });
  expired = await startHostileUpstream({ pki, hosts: ['expired.example.com'], expired: true });
  home = tempHome('keygate-leak-');
  scratch = tempHome('keygate-leak-scratch-');
  writeFileSync(
    join(scratch.home, 'fake-op-state.json'),
    JSON.stringify({
      token: TOKEN_CANARY,
      vaults: [{ id: 'v1', title: 'AI' }],
      items: [
        {
          id: 'i1',
          title: 'OpenAI',
          category: 'ApiCredentials',
          vaultId: 'v1',
          fields: [
            { id: 'credential', title: 'credential', fieldType: 'Concealed', value: OP_CANARY },
          ],
        },
      ],
    }),
  );

  // The 1Password token arrives on stdin, as users give it; it is kept encrypted.
  const tokenSet = await cli('token set', ['token', 'set'], { input: `${TOKEN_CANARY}\n` });
  expect(tokenSet.status, tokenSet.stderr).toBe(0);
  for (const [where, args] of [
    ['map add openai', ['map', 'add', 'api.openai.com', 'env://OPENAI_KEY', '--preset', 'openai']],
    // Resolved live through 1Password while adding: the CLI holds the value, and must not print it.
    ['map add op', ['map', 'add', 'op.example.com', 'op://AI/OpenAI/credential']],
    ['map add expired', ['map', 'add', 'expired.example.com', 'env://OPENAI_KEY']],
    ['map add missing', ['map', 'add', 'missing.example.com', 'env://NOT_SET_ANYWHERE']],
  ] as const) {
    const added = await cli(where, [...args]);
    expect(added.status, added.stderr).toBe(0);
  }

  serve = await startServe(
    home.home,
    [
      '--log-level',
      'debug',
      '--upstream-ca',
      pki.caPath,
      '--connect-to',
      `expired.example.com:443:127.0.0.1:${expired.port}`,
      '--connect-to',
      `:443:127.0.0.1:${upstream.port}`,
    ],
    { ...cliEnv(), OPENAI_KEY: ENV_CANARY },
  );

  fixture = await startEngine({
    secrets: { OPENAI_KEY: ENV_CANARY },
    mappings: [
      { host: 'api.openai.com', ref: 'env://OPENAI_KEY', preset: 'openai' },
      { host: 'expired.example.com', ref: 'env://OPENAI_KEY' },
      { host: 'missing.example.com', ref: 'env://NOT_SET_ANYWHERE' },
    ],
    connectTo: [
      `expired.example.com:443:127.0.0.1:${expired.port}`,
      `:443:127.0.0.1:${upstream.port}`,
    ],
    upstreamCaFiles: [pki.caPath],
    logLevel: 'debug',
    extra: {
      opFactory: onePassword.factory,
      env: { OP_SERVICE_ACCOUNT_TOKEN: TOKEN_CANARY },
    },
  });
  const vault = onePassword.addVault('AI');
  onePassword.addItem(vault, { title: 'OpenAI', fields: { credential: OP_CANARY } });
  await fixture.controller.handlers['mappings.upsert']({
    host: 'op.example.com',
    ref: 'op://AI/OpenAI/credential',
  });
}, 90_000);

afterAll(async () => {
  await serve?.stop();
  await fixture?.stop();
  await upstream?.close();
  await expired?.close();
  home?.cleanup();
  scratch?.cleanup();
});

describe('every path, with canaries', () => {
  it('injects through keygate serve: curl and undici, env:// and op://, an echoing upstream, SSE', async () => {
    const variables = agentEnvironment(home.home);
    const agentEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      ...variables,
    };
    for (const url of [
      'https://api.openai.com/v1/models',
      'https://op.example.com/v1/models',
      'https://api.openai.com/echo-credential',
      'https://op.example.com/echo-credential',
    ]) {
      const { stdout, stderr } = await run(
        'curl',
        ['-sS', '-D', '-', url, '-H', 'Authorization: Bearer keygate-placeholder'],
        { env: agentEnv },
      );
      record(`curl ${url}`, stdout + stderr);
      expect(stdout).toMatch(/^HTTP\/1\.1 (200|401)/m);
    }
    const proxyUrl = variables.HTTPS_PROXY ?? '';
    const ca = readFileSync(join(home.home, 'ca', 'ca.pem'), 'utf8');
    expect(
      (await agentRequest('serve undici openai', proxyUrl, ca, 'https://api.openai.com/v1/x'))
        .status,
    ).toBe(200);
    expect(
      (await agentRequest('serve undici op', proxyUrl, ca, 'https://op.example.com/v1/x')).status,
    ).toBe(200);
    const echoed = await agentRequest(
      'serve undici echo',
      proxyUrl,
      ca,
      'https://api.openai.com/echo-credential',
    );
    expect(echoed.status).toBe(401);
    // The upstream put the key it received into a header and the body: the agent sees its placeholder.
    expect(echoed.headers['x-echo-credential']).toBe('Bearer keygate-placeholder');
    await agentRequest(
      'serve undici echo op',
      proxyUrl,
      ca,
      'https://op.example.com/echo-credential',
    );
    const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca } });
    const stream = await request('https://api.openai.com/sse-forever?gap=10', { dispatcher });
    let events = '';
    for await (const chunk of stream.body) {
      events += (chunk as Buffer).toString();
      if (events.split('\n\n').length > 5) break;
    }
    record('serve sse', events);
    await dispatcher.destroy();
    expect(events).toMatch(/^data: 0\n\n/);
    // The one place the canaries belong: the upstream got the real values.
    const upstreamSaw = JSON.stringify(upstream.received);
    expect(occurrences(upstreamSaw, ENV_CANARY)).toBeGreaterThan(0);
    expect(occurrences(upstreamSaw, OP_CANARY)).toBeGreaterThan(0);
  });

  it('errors through keygate serve: secret unavailable, upstream TLS failure, host mismatch, plaintext refused', async () => {
    const env = agentEnvironment(home.home);
    const proxyUrl = env.HTTPS_PROXY ?? '';
    const ca = readFileSync(join(home.home, 'ca', 'ca.pem'), 'utf8');
    const missing = await agentRequest(
      'serve missing',
      proxyUrl,
      ca,
      'https://missing.example.com/v1/x',
    );
    expect(missing.headers['x-keygate-error']).toBe('keygate_secret_unavailable');
    const badTls = await agentRequest(
      'serve expired',
      proxyUrl,
      ca,
      'https://expired.example.com/v1/x',
    );
    expect(badTls.headers['x-keygate-error']).toBe('keygate_upstream_tls');
    expect(expired.received).toEqual([]);

    const url = new URL(proxyUrl);
    const auth = basicAuth(decodeURIComponent(url.username), decodeURIComponent(url.password));
    const raw = net.connect(serve.port, '127.0.0.1');
    const connected = await requestOn(raw, connectHead('api.openai.com:443', auth));
    expect(connected.response?.status).toBe(200);
    const secure = tls.connect({ socket: raw, servername: 'api.openai.com', ca });
    await new Promise((resolve, reject) =>
      secure.once('secureConnect', resolve).once('error', reject),
    );
    const mismatch = await requestOn(
      secure,
      'GET /v1/x HTTP/1.1\r\nHost: evil.example.net\r\nAuthorization: Bearer keygate-placeholder\r\n\r\n',
    );
    secure.destroy();
    record('serve host mismatch', mismatch.raw);
    expect(mismatch.response?.status).toBe(421);
    const plaintext = await rawExchange(
      serve.port,
      `GET http://api.openai.com/v1/x HTTP/1.1\r\nHost: api.openai.com\r\nProxy-Authorization: ${auth}\r\n\r\n`,
    );
    record('serve plaintext', plaintext.raw);
    expect(plaintext.response?.status).toBe(403);
  });

  it('the CLI: map test, map list, doctor, token status, agent list, env', async () => {
    const env = { OPENAI_KEY: ENV_CANARY };
    const [tested, testedOp, testedMissing, list, doctor, status, agents, shell] =
      await Promise.all(
        [
          ['map test openai', ['map', 'test', 'api.openai.com']],
          ['map test op', ['map', 'test', 'op.example.com']],
          ['map test missing', ['map', 'test', 'missing.example.com']],
          ['map list', ['map', 'list', '--json']],
          ['doctor', ['doctor']],
          ['token status', ['token', 'status']],
          ['agent list', ['agent', 'list']],
          ['env', ['env']],
        ].map(([where, args]) => cli(where as string, args as string[], { env })),
      );
    expect(tested?.stdout).toMatch(/^ok api\.openai\.com sha256:[0-9a-f]{12} \(\d+ characters\)$/m);
    expect(testedOp?.stdout).toMatch(/^ok op\.example\.com sha256:[0-9a-f]{12}/m);
    expect(testedMissing?.stdout).toMatch(/^failed missing\.example\.com: .*NOT_SET_ANYWHERE/m);
    expect(list?.status).toBe(0);
    expect(doctor?.stdout).toMatch(
      /^ok {3}mapping api\.openai\.com: env:\/\/OPENAI_KEY is set in this environment$/m,
    );
    expect(doctor?.stdout).toMatch(/^ok {3}1password: connected/m);
    expect(status?.stdout).toMatch(/service-account token: stored/);
    expect(agents?.status).toBe(0);
    expect(shell?.stdout).toMatch(/HTTPS_PROXY=/);
  });

  it('crashes with a stack trace: serve on a taken port and a missing --upstream-ca, at KEYGATE_LOG=debug', async () => {
    const env = { OPENAI_KEY: ENV_CANARY, OP_SERVICE_ACCOUNT_TOKEN: TOKEN_CANARY };
    const [taken, noCa] = await Promise.all([
      cli('serve on a taken port', ['serve', '--port', String(serve.port)], { env }),
      cli(
        'serve with a missing CA',
        ['serve', '--port', '0', '--upstream-ca', '/nonexistent/ca.pem'],
        {
          env,
        },
      ),
    ]);
    expect(taken?.status).toBe(1);
    expect(taken?.stderr).toMatch(/is in use/);
    // KEYGATE_LOG=debug prints the stack of an unexpected failure.
    expect(taken?.stderr).toMatch(/\n\s+at /);
    expect(noCa?.status).toBe(2);
    expect(noCa?.stderr).toMatch(/--upstream-ca \/nonexistent\/ca\.pem: no such file/);
  });

  it('a forced crash in a child engine after an injection: the stack and a dump of the engine hold no value', async () => {
    // A copy of serve's home, so the child cannot disturb serve; searched like the original.
    const childHome = join(scratch.home, 'child-home');
    cpSync(home.home, childHome, { recursive: true });
    const dist = (path: string) => pathToFileURL(join(REPO_ROOT, 'dist', 'engine', path)).href;
    const script = `
      import { inspect } from 'node:util';
      const { KeygateEngine } = await import(${JSON.stringify(dist('keygate-engine.js'))});
      const { createLogger } = await import(${JSON.stringify(dist('log/logger.js'))});
      const engine = await KeygateEngine.start({
        home: process.argv[1], port: 0, logger: createLogger({ level: 'debug' }),
        upstreamCaFiles: [process.argv[2]], connectTo: [':443:127.0.0.1:' + process.argv[3]],
      });
      const secret = await engine.resolver.resolve('env://OPENAI_KEY');
      const failed = await engine.resolver.resolve('env://NOT_SET_ANYWHERE').catch((err) => err);
      console.error(inspect(engine, { depth: 6 }));
      console.error(inspect(engine.resolver, { depth: 6, showHidden: true }));
      setImmediate(() => {
        throw Object.assign(new Error('forced failure after an injection'), { secret, cause: failed });
      });
    `;
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', script, childHome, pki.caPath, String(upstream.port)],
      {
        env: { ...process.env, ...cliEnv(), OPENAI_KEY: ENV_CANARY },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    record('forced crash', output);
    expect(code).toBe(1);
    expect(output).toMatch(/Error: forced failure after an injection\n\s+at /);
    // The Secret rides along in the crash report, as an empty shell.
    expect(output).toMatch(/secret: (Secret \{\}|\[secret\])/);
    expect(output).toMatch(/NOT_SET_ANYWHERE/);
    for (const file of filesUnder(childHome)) record(`file ${file}`, readFileSync(file, 'latin1'));
  });

  it('the in-process engine: injection, echo, errors, the contract, activity events, debug logs', async () => {
    const proxyUrl = fixture.proxyUrl();
    const ca = fixture.engine.ca.certPem;
    for (const url of [
      'https://api.openai.com/v1/a',
      'https://op.example.com/v1/b',
      'https://api.openai.com/echo-credential?key=placeholder',
      'https://op.example.com/echo-credential',
      'https://missing.example.com/v1/c',
      'https://expired.example.com/v1/d',
    ])
      await agentRequest(`engine ${url}`, proxyUrl, ca, url);
    const handlers = fixture.controller.handlers;
    record('contract mappings.list', JSON.stringify(await handlers['mappings.list']()));
    record(
      'contract mappings.test',
      JSON.stringify(await handlers['mappings.test']({ host: 'api.openai.com' })),
    );
    record(
      'contract mappings.test op',
      JSON.stringify(await handlers['mappings.test']({ host: 'op.example.com' })),
    );
    record('contract doctor.run', JSON.stringify(await handlers['doctor.run']()));
    record('contract token.status', JSON.stringify(await handlers['token.status']()));
    record('contract proxy.status', JSON.stringify(await handlers['proxy.status']()));
    record(
      'contract onepassword.items',
      JSON.stringify(
        await handlers['onepassword.items']({ vaultId: onePassword.vaults[0]?.id ?? '' }),
      ),
    );
    const events = await handlers['activity.recent']({});
    expect(events.map((e) => e.outcome)).toEqual(expect.arrayContaining(['injected', 'error']));
    record('activity events', JSON.stringify(events));
    record('engine debug log', fixture.logLines.join('\n'));
    for (const file of filesUnder(fixture.home))
      record(`file ${file}`, readFileSync(file, 'latin1'));
  });
});

describe('the audit', () => {
  it('no canary in any file under the homes, any log line, event, response or CLI output', async () => {
    // serve's logs: stop it first, so its shutdown lines are in too.
    await serve.stop();
    record('serve stderr', serve.stderr());
    for (const file of filesUnder(home.home)) record(`file ${file}`, readFileSync(file, 'latin1'));
    expect(seen.length).toBeGreaterThan(40);
    const found: string[] = [];
    for (const { where, text } of seen) {
      for (const [name, canary] of Object.entries(CANARIES)) {
        const count = occurrences(text, canary);
        if (count > 0) found.push(`${name} ×${count} in ${where}`);
      }
    }
    expect(found).toEqual([]);
    // The logs are really at debug level, with request-level lines.
    expect(serve.stderr()).toMatch(/ debug /);
  });

  it('settings.json holds references only', () => {
    const settings = JSON.parse(readFileSync(join(home.home, 'settings.json'), 'utf8')) as {
      mappings: Array<Record<string, unknown>>;
    };
    const refs: string[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (typeof value === 'object' && value !== null) {
        for (const [key, child] of Object.entries(value)) {
          if (/^(ref|userRef)$/.test(key)) refs.push(String(child));
          walk(child);
        }
      }
    };
    walk(settings);
    expect(refs.length).toBe(settings.mappings.length);
    for (const ref of refs) expect(ref).toMatch(/^(env|op):\/\//);
  });

  it('the CA key is 0600 in a 0700 directory; the token file and its key are 0600', () => {
    expect(statSync(join(home.home, 'ca')).mode & 0o777).toBe(0o700);
    expect(statSync(join(home.home, 'ca', 'ca-key.pem')).mode & 0o777).toBe(0o600);
    for (const file of ['onepassword-token.enc', 'onepassword-token.key', 'settings.json'])
      expect(statSync(join(home.home, file)).mode & 0o777).toBe(0o600);
  });
});
