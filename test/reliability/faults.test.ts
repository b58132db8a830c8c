/**
 * Faults: upstreams that refuse, reset, hang or lie about who they are; a 1Password that is
 * down, hanging, rate-limited or whose session expired; a disk that fills up or a home that
 * disappears during a settings write; `kill -9` in the middle of 1,000 settings writes; a port
 * that is taken. Each ends with a clear agent-facing error (or a clear CLI message), no crash,
 * and nothing lost: after every in-process case the engine answers /healthz, and a long-lived
 * intercepted connection and an SSE stream opened before the first fault still work.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ProxyAgent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SettingsError } from '../../src/engine/errors.js';
import { SettingsStore } from '../../src/engine/settings/settings-store.js';
import { LeafCertificateError, LeafCertificates } from '../../src/engine/tls/leaf-certificates.js';
import { keygateAsync } from '../cli/cli-helpers.js';
import { expectHealthy, startBystanders, type Bystanders } from '../helpers/bystanders.js';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { FakeOnePassword, fakeToken, sdkSignInError } from '../helpers/fake-op-client.js';
import {
  closedPort,
  startGarbageTlsServer,
  startHostileUpstream,
  startSilentServer,
  type HostileUpstream,
  type RawServer,
} from '../helpers/hostile-upstream.js';
import {
  KEYGATE_BIN,
  REPO_ROOT,
  startServe,
  tempHome,
  type ServeHandle,
} from '../helpers/keygate-process.js';
import { basicAuth, connectHead, keygateBody, rawExchange } from '../helpers/raw-http.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { parseAgentError } from '../helpers/agent-error.js';

const SECRET = 'sk-faults-CANARY-3c9d01';
const OP_SECRET = 'sk-op-faults-CANARY-77e2aa';
const IDLE_MS = 1_000;
const CONNECT_MS = 1_000;

class ManualClock {
  t = 1_000;
  now(): number {
    return this.t;
  }
}

let pki: TestPki;
let good: HostileUpstream;
let expired: HostileUpstream;
let untrusted: HostileUpstream;
let wrongHost: HostileUpstream;
let garbage: RawServer;
let silent: RawServer;
let fixture: EngineFixture;
let bystanders: Bystanders;
const onePassword = new FakeOnePassword();
const clock = new ManualClock();

beforeAll(async () => {
  pki = await createTestPki();
  const otherPki = await createTestPki();
  [good, expired, untrusted, wrongHost, garbage, silent] = await Promise.all([
    startHostileUpstream({ pki, hosts: ['api.openai.com', 'op.example.com'] }),
    startHostileUpstream({ pki, hosts: ['expired.example.com'], expired: true }),
    startHostileUpstream({ pki: otherPki, hosts: ['untrusted.example.com'] }),
    startHostileUpstream({ pki, hosts: ['someone-else.example.net'] }),
    startGarbageTlsServer({ pki, hosts: ['garbage.example.com'], reply: 'hello from 1991\n' }),
    startSilentServer(),
  ]);
  const refused = await closedPort();
  const vault = onePassword.addVault('AI');
  onePassword.addItem(vault, { title: 'OpenAI', fields: { credential: OP_SECRET } });
  const hosts = ['refused', 'silent', 'expired', 'untrusted', 'wronghost', 'garbage'] as const;
  fixture = await startEngine({
    secrets: { API_KEY: SECRET },
    mappings: [
      { host: 'api.openai.com', ref: 'env://API_KEY', preset: 'openai' },
      ...hosts.map((name) => ({ host: `${name}.example.com`, ref: 'env://API_KEY' })),
    ],
    connectTo: [
      `api.openai.com:443:127.0.0.1:${good.port}`,
      `op.example.com:443:127.0.0.1:${good.port}`,
      `refused.example.com:443:127.0.0.1:${refused}`,
      `refusedtunnel.example.com:443:127.0.0.1:${refused}`,
      `silent.example.com:443:127.0.0.1:${silent.port}`,
      `expired.example.com:443:127.0.0.1:${expired.port}`,
      `untrusted.example.com:443:127.0.0.1:${untrusted.port}`,
      `wronghost.example.com:443:127.0.0.1:${wrongHost.port}`,
      `garbage.example.com:443:127.0.0.1:${garbage.port}`,
    ],
    upstreamCaFiles: [pki.caPath],
    extra: {
      timeouts: { upstreamIdleMs: IDLE_MS, connectMs: CONNECT_MS },
      opFactory: onePassword.factory,
      env: { OP_SERVICE_ACCOUNT_TOKEN: fakeToken('fake-faults-token') },
      resolver: { clock, timeoutMs: 300 },
    },
  });
  bystanders = await startBystanders({
    proxyPort: fixture.engine.port ?? 0,
    proxyUrl: fixture.proxyUrl(),
    caPem: fixture.engine.ca.certPem,
    host: 'api.openai.com',
  });
});

afterEach(async () => {
  await bystanders.check();
});

afterAll(async () => {
  await fixture?.stop();
  await Promise.all([good, expired, untrusted, wrongHost, garbage, silent].map((s) => s?.close()));
});

interface Outcome {
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  body?: string;
  /** The request or its body failed (reset, truncated). */
  error?: Error;
  elapsedMs: number;
}

/** One request through the proxy, reading the whole body; failures are returned, not thrown. */
async function call(url: string): Promise<Outcome> {
  const dispatcher = new ProxyAgent({
    uri: fixture.proxyUrl(),
    requestTls: { ca: fixture.engine.ca.certPem },
  });
  const started = performance.now();
  let status: number | undefined;
  let headers: Outcome['headers'];
  try {
    const response = await request(url, {
      dispatcher,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    status = response.statusCode;
    headers = response.headers;
    const body = await response.body.text();
    return { status, headers, body, elapsedMs: performance.now() - started };
  } catch (err) {
    return {
      ...(status !== undefined ? { status, headers } : {}),
      error: err as Error,
      elapsedMs: performance.now() - started,
    };
  } finally {
    await dispatcher.destroy();
  }
}

function expectAgentError(outcome: Outcome, status: number, code: string, message: RegExp): void {
  const context = JSON.stringify({ ...outcome, error: outcome.error?.message });
  expect(outcome.status, context).toBe(status);
  expect(outcome.headers?.['x-keygate-error'], context).toBe(`keygate_${code}`);
  const body = parseAgentError(outcome.body) ?? { error: undefined, message: undefined };
  expect(body.error).toBe(`keygate_${code}`);
  expect(body.message).toMatch(message);
  expect(body.message).not.toContain(SECRET);
  expect(body.message).not.toContain(OP_SECRET);
}

// ---- Upstream -------------------------------------------------------------------------------

describe('upstream faults', () => {
  it('refuses the connection → 502 keygate_upstream_unreachable (ECONNREFUSED)', async () => {
    const outcome = await call('https://refused.example.com/v1/x');
    expectAgentError(outcome, 502, 'upstream_unreachable', /refused\.example\.com.*ECONNREFUSED/);
    expect(fixture.engine.activity.recent().at(-1)).toMatchObject({
      outcome: 'error',
      host: 'refused.example.com',
      error: 'keygate_upstream_unreachable',
    });
  });

  it('refuses a tunnel (unmapped host) → 502 keygate_upstream_unreachable on the CONNECT', async () => {
    const token = fixture.engine.store.get().agents[0]?.token ?? '';
    const result = await rawExchange(
      fixture.engine.port ?? 0,
      connectHead('refusedtunnel.example.com:443', basicAuth('default', token)),
    );
    expect(result.response?.status).toBe(502);
    expect(keygateBody(result.response)).toMatchObject({
      error: 'keygate_upstream_unreachable',
      message: expect.stringMatching(/^tunnel to refusedtunnel\.example\.com:443: .*ECONNREFUSED/),
    });
  });

  it('resets the connection mid-body → the agent sees a failed body, not a hang', async () => {
    const outcome = await call('https://api.openai.com/reset-mid-body');
    expect(outcome.status).toBe(200);
    expect(outcome.error, 'the truncated body must fail, not look complete').toBeDefined();
    expect(outcome.elapsedMs).toBeLessThan(5_000);
    expect(good.received.at(-1)).toMatchObject({
      url: '/reset-mid-body',
      headers: expect.objectContaining({ authorization: `Bearer ${SECRET}` }),
    });
  });

  it('resets mid-stream (SSE) → the agent got the events sent, then a failed stream', async () => {
    const dispatcher = new ProxyAgent({
      uri: fixture.proxyUrl(),
      requestTls: { ca: fixture.engine.ca.certPem },
    });
    const response = await request('https://api.openai.com/reset-mid-stream', { dispatcher });
    expect(response.statusCode).toBe(200);
    let text = '';
    const ended = await (async () => {
      try {
        for await (const chunk of response.body) text += (chunk as Buffer).toString();
        return 'clean end';
      } catch (err) {
        return (err as Error).name;
      }
    })();
    await dispatcher.destroy();
    expect(text).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\n');
    expect(ended).not.toBe('clean end');
  });

  it('hangs before answering → 504 keygate_upstream_timeout after the idle timeout', async () => {
    const outcome = await call('https://api.openai.com/hang');
    expectAgentError(outcome, 504, 'upstream_timeout', /did not answer in time/);
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(outcome.elapsedMs).toBeLessThan(IDLE_MS + 3_000);
  });

  it('hangs mid-way through a small body → a clean 504 after the idle timeout (nothing was sent yet)', async () => {
    // Small bodies of a mapped host are scrubbed whole, so the agent has seen no byte of the
    // response and can be told what happened instead of getting a truncated 200.
    const outcome = await call('https://api.openai.com/hang-mid-body');
    expectAgentError(outcome, 504, 'upstream_timeout', /did not answer in time/);
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(outcome.elapsedMs).toBeLessThan(IDLE_MS + 3_000);
  });

  it('the agent gives up while a small body is still arriving → recorded as keygate_agent_closed; the next request is served', async () => {
    const dispatcher = new ProxyAgent({
      uri: fixture.proxyUrl(),
      requestTls: { ca: fixture.engine.ca.certPem },
    });
    try {
      const before = good.received.length;
      const giveUp = new AbortController();
      const gaveUp = request('https://api.openai.com/hang-mid-body', {
        dispatcher,
        signal: giveUp.signal,
      });
      // Once the upstream has the request (and has sent part of its body), the agent leaves.
      await vi.waitFor(
        () => expect(good.received.slice(before).map((r) => r.url)).toContain('/hang-mid-body'),
        { timeout: 5_000 },
      );
      giveUp.abort();
      await expect(gaveUp).rejects.toThrow();
      await vi.waitFor(
        () =>
          expect(fixture.engine.activity.recent().at(-1)).toMatchObject({
            host: 'api.openai.com',
            path: '/hang-mid-body',
            outcome: 'error',
            status: 499,
            error: 'keygate_agent_closed',
          }),
        { timeout: 5_000 },
      );
    } finally {
      await dispatcher.destroy();
    }
    const next = await call('https://api.openai.com/v1/after');
    expect(next.status).toBe(200);
  });

  it('resets mid-way through a small body → a clean 502, not a truncated 200', async () => {
    const outcome = await call('https://api.openai.com/reset-mid-small-body');
    expectAgentError(
      outcome,
      502,
      'upstream_unreachable',
      /^mapping api\.openai\.com: the upstream broke off its response \(ECONNRESET: .*\); nothing was passed on$/,
    );
    expect(outcome.elapsedMs).toBeLessThan(5_000);
  });

  it('hangs mid-way through a large (streamed) body → a failed body after the idle timeout, not a hang', async () => {
    const outcome = await call('https://api.openai.com/hang-mid-large-body');
    expect(outcome.status).toBe(200);
    expect(outcome.error).toBeDefined();
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(outcome.elapsedMs).toBeLessThan(IDLE_MS + 3_000);
  });

  it('accepts TCP and never speaks TLS → 504 keygate_upstream_timeout after the connect timeout', async () => {
    const accepted = silent.accepted();
    const outcome = await call('https://silent.example.com/v1/x');
    expectAgentError(outcome, 504, 'upstream_timeout', /silent\.example\.com.*did not answer/);
    expect(silent.accepted()).toBeGreaterThan(accepted);
    expect(outcome.elapsedMs).toBeLessThan(CONNECT_MS + 3_000);
  });

  it('closes without a response → 502 keygate_upstream_unreachable', async () => {
    const outcome = await call('https://api.openai.com/close-without-response');
    expectAgentError(
      outcome,
      502,
      'upstream_unreachable',
      /api\.openai\.com.*closed the connection without answering/,
    );
  });

  it.each([
    ['an expired certificate', 'expired', () => expired, /CERT_HAS_EXPIRED/],
    [
      'a certificate from an untrusted CA',
      'untrusted',
      () => untrusted,
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED/,
    ],
    [
      'a certificate for another host',
      'wronghost',
      () => wrongHost,
      /ERR_TLS_CERT_ALTNAME_INVALID/,
    ],
  ])('%s → 502 keygate_upstream_tls, and nothing was sent', async (_name, host, server, reason) => {
    const outcome = await call(`https://${host}.example.com/v1/x`);
    expectAgentError(outcome, 502, 'upstream_tls', reason);
    expect(parseAgentError(outcome.body)?.message).toMatch(/nothing was sent/);
    expect(server().received).toEqual([]);
  });

  it('answers HTTP/0.9-style garbage → 502 keygate_upstream_unreachable (parse error named)', async () => {
    const accepted = garbage.accepted();
    const outcome = await call('https://garbage.example.com/v1/x');
    expectAgentError(
      outcome,
      502,
      'upstream_unreachable',
      /garbage\.example\.com.*answer is not HTTP\/1\.1/,
    );
    expect(garbage.accepted()).toBe(accepted + 1);
  });
});

// ---- 1Password ------------------------------------------------------------------------------

describe('certificate faults', () => {
  const connect = () => {
    const token = fixture.engine.store.get().agents[0]?.token ?? '';
    return connectHead('api.openai.com:443', basicAuth('default', token));
  };

  it('a leaf that cannot be minted (CA expired) → 502 on the CONNECT, before any 200', async () => {
    // The CA cannot expire during a test run, and the CA loader refuses an expired one at start,
    // so the check that runs before the CONNECT is answered is made to fail as it would.
    const spy = vi.spyOn(LeafCertificates.prototype, 'assertCanMint').mockImplementationOnce(() => {
      throw new LeafCertificateError('cannot mint a certificate: the Keygate CA expired');
    });
    const result = await rawExchange(fixture.engine.port ?? 0, connect());
    spy.mockRestore();

    expect(result.raw).not.toContain('200 Connection Established');
    expect(result.response?.status).toBe(502);
    expect(keygateBody(result.response)).toMatchObject({
      error: 'keygate_upstream_unreachable',
      message: 'could not mint a certificate for api.openai.com',
    });
    expect(fixture.engine.activity.recent().at(-1)).toMatchObject({
      outcome: 'error',
      method: 'CONNECT',
      status: 502,
    });
  });

  it('a mint that fails after the 200 (an OpenSSL error) → the tunnel is closed and the failure recorded', async () => {
    const spy = vi
      .spyOn(LeafCertificates.prototype, 'secureContextFor')
      .mockRejectedValueOnce(new LeafCertificateError('cannot build a TLS context'));
    const raw = net.connect(fixture.engine.port ?? 0, '127.0.0.1');
    raw.write(connect());
    const head = await new Promise<string>((resolve) =>
      raw.once('data', (c: Buffer) => resolve(c.toString())),
    );
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    const closed = await new Promise<boolean>((resolve) => {
      raw.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 5_000).unref();
    });
    spy.mockRestore();

    expect(closed).toBe(true);
    expect(fixture.engine.activity.recent().at(-1)).toMatchObject({
      outcome: 'error',
      host: 'api.openai.com',
      method: 'CONNECT',
      error: 'keygate_upstream_unreachable',
    });
    expect(fixture.logLines.some((line) => line.includes('could not mint a certificate'))).toBe(
      true,
    );
  });
});

describe('1Password faults', () => {
  const sdkCalls = () => onePassword.sdkCalls + onePassword.createCalls;

  it('down (the client cannot be created: network error) → 502 keygate_secret_unavailable, then a pause, then recovery', async () => {
    // What the real SDK throws with no route to 1Password (recorded by sdk-contract.test.ts).
    onePassword.createError = sdkSignInError('closed-port');
    // The live check cannot reach 1Password: the mapping is saved anyway (it is not "not found").
    await fixture.controller.handlers['mappings.upsert']({
      host: 'op.example.com',
      ref: 'op://AI/OpenAI/credential',
    });
    fixture.engine.resolver.invalidate();
    const down = await call('https://op.example.com/v1/down');
    expectAgentError(
      down,
      502,
      'secret_unavailable',
      /op\.example\.com.*1Password could not be reached/,
    );
    // Paused: the next request fails at once without asking 1Password again.
    const before = sdkCalls();
    const paused = await call('https://op.example.com/v1/paused');
    expectAgentError(paused, 502, 'secret_unavailable', /paused for .* more after an error/);
    expect(sdkCalls()).toBe(before);
    // An outage is not a stale mapping: the reference itself may be fine.
    const listed = await fixture.controller.handlers['mappings.list']();
    expect(listed.find((m) => m.host === 'op.example.com')?.stale).toBeUndefined();
    // 1Password is back; after the pause the next request resolves and injects.
    onePassword.createError = undefined;
    clock.t += 61_000;
    const back = await call('https://op.example.com/v1/back');
    expect(back.status).toBe(200);
    expect(good.received.at(-1)?.headers.authorization).toBe(`Bearer ${OP_SECRET}`);
  });

  it('hanging → 502 keygate_secret_unavailable at the resolver timeout, not a hang', async () => {
    fixture.engine.resolver.invalidate();
    onePassword.hang = true;
    try {
      const outcome = await call('https://op.example.com/v1/hang');
      expectAgentError(outcome, 502, 'secret_unavailable', /did not answer within 300 ms/);
      expect(outcome.elapsedMs).toBeLessThan(3_000);
    } finally {
      onePassword.hang = false;
      fixture.engine.resolver.invalidate();
    }
    expect((await call('https://op.example.com/v1/after-hang')).status).toBe(200);
  });

  it('rate-limited → 502 saying so, lookups paused (no SDK call), recovery after the pause', async () => {
    fixture.engine.resolver.invalidate();
    onePassword.rateLimited = true;
    const limited = await call('https://op.example.com/v1/limited');
    expectAgentError(limited, 502, 'secret_unavailable', /1Password rate limit reached/);
    const before = sdkCalls();
    const again = await call('https://op.example.com/v1/limited-again');
    expectAgentError(again, 502, 'secret_unavailable', /paused for .*rate limit/);
    expect(sdkCalls()).toBe(before);
    onePassword.rateLimited = false;
    clock.t += 61_000;
    expect((await call('https://op.example.com/v1/after-limit')).status).toBe(200);
  });

  it('locked (desktop session expired) → 502 saying to unlock the app', async () => {
    fixture.engine.resolver.invalidate();
    onePassword.locked = true;
    try {
      const outcome = await call('https://op.example.com/v1/locked');
      expectAgentError(outcome, 502, 'secret_unavailable', /1Password is locked: unlock/);
    } finally {
      onePassword.locked = false;
      fixture.engine.resolver.invalidate();
    }
  });

  it('expired auth → the client is recreated once and the request succeeds', async () => {
    fixture.engine.resolver.invalidate();
    const clients = onePassword.createCalls;
    onePassword.authExpiredCalls = 1;
    const outcome = await call('https://op.example.com/v1/expired-auth');
    expect(outcome.status).toBe(200);
    expect(good.received.at(-1)?.headers.authorization).toBe(`Bearer ${OP_SECRET}`);
    expect(onePassword.createCalls).toBe(clients + 1);
    expect(onePassword.authExpiredCalls).toBe(0);
  });
});

// ---- Disk -------------------------------------------------------------------------------------

/**
 * `keygate ARGS` with RLIMIT_FSIZE set: a write past `kb` KB stops short and the next one fails
 * (EFBIG), as on a full disk (ENOSPC) — for any user, root included. Asynchronous: the engine
 * under test lives in this process and must keep running meanwhile.
 */
function keygateWithFileSizeLimit(
  kb: number,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bash',
      ['-c', `ulimit -f ${kb} && exec "$0" "$@"`, process.execPath, KEYGATE_BIN, ...args],
      { env: { ...process.env, KEYGATE_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('disk faults during a settings write', () => {
  it('disk full (the write stops short): refused with the errno, the old settings survive intact', async () => {
    const home = tempHome('keygate-diskfull-');
    try {
      const store = SettingsStore.open(home.home);
      store.update((draft) => {
        draft.mappings.push({
          host: 'kept.example.com',
          ref: 'env://K',
          injector: { type: 'bearer' },
        });
      });
      store.close();
      const file = join(home.home, 'settings.json');
      const before = readFileSync(file, 'utf8');
      expect(before.length).toBeLessThan(1024);
      // The new file would be ~5 KB; only 1 KB fits.
      const result = await keygateWithFileSizeLimit(1, [
        '--home',
        home.home,
        'map',
        'add',
        'big.example.com',
        'env://K',
        '--path',
        `/${'a'.repeat(4_000)}`,
      ]);
      expect(result.status, result.stderr).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        /^keygate: settings: Could not save settings to \S+settings\.json: EFBIG/m,
      );
      expect(readFileSync(file, 'utf8')).toBe(before);
      expect(readdirSync(home.home).filter((n) => n !== 'settings.json')).toEqual([]);
      const reopened = SettingsStore.open(home.home);
      expect(reopened.recoveredFrom).toBeUndefined();
      expect(reopened.get().mappings.map((m) => m.host)).toEqual(['kept.example.com']);
      reopened.close();
    } finally {
      home.cleanup();
    }
  });

  it('the home stops being a directory under the running engine: SettingsError with the errno; the engine keeps its settings and keeps injecting', async () => {
    const home = fixture.home;
    const moved = `${home}-moved`;
    const settings = fixture.engine.store.get();
    const onDisk = readFileSync(join(home, 'settings.json'), 'utf8');
    renameSync(home, moved);
    writeFileSync(home, 'not a directory');
    try {
      const error = await fixture.controller.handlers['mappings.upsert']({
        host: 'new.example.com',
        ref: 'env://API_KEY',
      }).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      expect(error).toBeInstanceOf(SettingsError);
      expect(error?.message).toContain(join(home, 'settings.json'));
      expect(error?.message).toContain('ENOTDIR');
      expect(fixture.engine.store.get()).toBe(settings);
      const outcome = await call('https://api.openai.com/v1/during-disk-fault');
      expect(outcome.status).toBe(200);
      expect(good.received.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    } finally {
      rmSync(home);
      renameSync(moved, home);
    }
    expect(readFileSync(join(home, 'settings.json'), 'utf8')).toBe(onDisk);
  });
});

// ---- Crash --------------------------------------------------------------------------------------

/**
 * A settings writer in its own process: argv[2] updates, each adding mapping
 * `<argv[3]><i>.example.com` and acknowledged on stdout once saved.
 */
const WRITER = `
  const { SettingsStore } = await import(${JSON.stringify(
    pathToFileURL(join(REPO_ROOT, 'dist', 'engine', 'settings', 'settings-store.js')).href,
  )});
  const [home, count, prefix] = process.argv.slice(1);
  const store = SettingsStore.open(home);
  for (let i = 0; i < Number(count); i++) {
    store.update((draft) => {
      draft.mappings.push({ host: prefix + i + '.example.com', ref: 'env://K' + i, injector: { type: 'bearer' } });
    });
    process.stdout.write(i + '\\n');
  }
`;

function startWriter(home: string, count: number, prefix: string) {
  return spawn(
    process.execPath,
    ['--input-type=module', '-e', WRITER, home, String(count), prefix],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

describe('crash', () => {
  it('kill -9 of serve, then of the writer, during 1,000 rapid settings writes: the file is always valid and every acknowledged mapping is there', async () => {
    const home = tempHome('keygate-crash-');
    let serve: ServeHandle | undefined;
    let second: ServeHandle | undefined;
    try {
      serve = await startServe(home.home, [], { KEYGATE_LOG: 'warn' });
      const file = join(home.home, 'settings.json');
      // Watch the file the whole time, as another reader would: every read must parse.
      let reads = 0;
      let invalidReads = 0;
      let reading = true;
      const reader = (async () => {
        while (reading) {
          try {
            JSON.parse(readFileSync(file, 'utf8'));
          } catch {
            invalidReads++;
          }
          reads++;
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      })();

      const writer = startWriter(home.home, 1000, 'h');
      let acked = -1;
      let writerStderr = '';
      writer.stderr.setEncoding('utf8').on('data', (chunk: string) => (writerStderr += chunk));
      const killedServeAt = new Promise<number>((resolve) => {
        let killed = false;
        writer.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          for (const line of chunk.split('\n').filter(Boolean)) acked = Number(line);
          if (!killed && acked >= 250) {
            killed = true;
            serve?.child.kill('SIGKILL');
            resolve(acked);
          }
          if (acked >= 600 && writer.exitCode === null) writer.kill('SIGKILL');
        });
      });
      const writerExit = new Promise<NodeJS.Signals | number | null>((resolve) =>
        writer.once('exit', (code, signal) => resolve(signal ?? code)),
      );
      await killedServeAt;
      // A new serve starts while the writes go on.
      second = await startServe(home.home, [], { KEYGATE_LOG: 'info' });
      expect(await writerExit, writerStderr).toBe('SIGKILL');
      reading = false;
      await reader;

      expect(acked).toBeGreaterThanOrEqual(600);
      expect(acked).toBeLessThan(999);
      expect(reads).toBeGreaterThan(100);
      expect(invalidReads).toBe(0);
      const settings = JSON.parse(readFileSync(file, 'utf8')) as {
        mappings: Array<{ host: string }>;
      };
      const hosts = new Set(settings.mappings.map((m) => m.host));
      const lost = Array.from({ length: acked + 1 }, (_, i) => `h${i}.example.com`).filter(
        (host) => !hosts.has(host),
      );
      expect(lost).toEqual([]);
      // At most the one write in flight at the kill landed without its acknowledgement.
      expect(settings.mappings.length - (acked + 1)).toBeLessThanOrEqual(1);
      const reopened = SettingsStore.open(home.home);
      expect(reopened.recoveredFrom).toBeUndefined();
      expect(reopened.get().agents.map((a) => a.name)).toEqual(['default']);
      reopened.close();
      // A write cut by the kill may leave its temporary file; it holds tokens, so it is 0600.
      for (const name of readdirSync(home.home).filter((n) => n.includes('.tmp-')))
        expect(statSync(join(home.home, name)).mode & 0o777).toBe(0o600);
      // The writer may have died holding the settings lock: the next writer is not blocked.
      const after = SettingsStore.open(home.home);
      after.update((draft) => {
        draft.mappings.push({
          host: 'after.example.com',
          ref: 'env://K',
          injector: { type: 'bearer' },
        });
      });
      after.close();
      // lstat, not existsSync: a lock is a symlink to a pid, which existsSync follows.
      expect(lstatSync(join(home.home, 'settings.json.lock'), { throwIfNoEntry: false })).toBe(
        undefined,
      );

      // The second serve is healthy and follows the file.
      await expectHealthy(second.port);
      await expect
        .poll(() => second?.stderr() ?? '', { timeout: 5_000 })
        .toMatch(new RegExp(`rules reloaded mappings=${settings.mappings.length + 1}`));
    } finally {
      if (serve && serve.child.exitCode === null && serve.child.signalCode === null)
        serve.child.kill('SIGKILL');
      await second?.stop();
      home.cleanup();
    }
  }, 60_000);
});

describe('concurrent writers', () => {
  it('four processes writing at once lose nothing: every acknowledged mapping is there', async () => {
    const home = tempHome('keygate-concurrent-');
    try {
      SettingsStore.open(home.home).close();
      const writers = ['a', 'b', 'c', 'd'].map((prefix) => {
        const child = startWriter(home.home, 40, prefix);
        let acked = -1;
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          for (const line of chunk.split('\n').filter(Boolean)) acked = Number(line);
        });
        return new Promise<{ prefix: string; acked: number; code: number | null }>((resolve) =>
          child.once('close', (code) => resolve({ prefix, acked, code })),
        );
      });
      const done = await Promise.all(writers);
      expect(done.map((w) => w.code)).toEqual([0, 0, 0, 0]);
      const hosts = new Set(
        (
          JSON.parse(readFileSync(join(home.home, 'settings.json'), 'utf8')) as {
            mappings: Array<{ host: string }>;
          }
        ).mappings.map((m) => m.host),
      );
      const lost = done.flatMap(({ prefix, acked }) =>
        Array.from({ length: acked + 1 }, (_, i) => `${prefix}${i}.example.com`).filter(
          (host) => !hosts.has(host),
        ),
      );
      expect(done.every((w) => w.acked === 39)).toBe(true);
      expect(lost).toEqual([]);
      expect(hosts.size).toBe(160);
    } finally {
      home.cleanup();
    }
  });
});

// ---- Port in use --------------------------------------------------------------------------------

describe('port in use', () => {
  it('something else holds the port → a clear message, exit 1, and the holder is untouched', async () => {
    const holder = net.createServer((socket) => socket.end('holder\n'));
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    const home = tempHome('keygate-portinuse-');
    try {
      const result = await keygateAsync(['serve', '--port', String(port)], { home: home.home });
      expect(result.status).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        new RegExp(
          `^keygate: port ${port} on 127\\.0\\.0\\.1 is in use: is another Keygate running\\? \\(keygate doctor\\)$`,
          'm',
        ),
      );
      expect(existsSync(join(home.home, 'serve.json'))).toBe(false);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.setEncoding('utf8').once('data', resolve).once('error', reject);
      });
      expect(reply).toBe('holder\n');
    } finally {
      holder.close();
      home.cleanup();
    }
  });
});

describe('bystanders', () => {
  it('the long-lived connection and the SSE stream saw every fault through, undisturbed', async () => {
    const { exchanges, events } = await bystanders.finish();
    expect(exchanges).toBeGreaterThan(15);
    expect(events).toBeGreaterThan(15);
    expect(fixture.logLines.filter((line) => /unexpected proxy error/.test(line))).toEqual([]);
    const logs = fixture.logLines.join('\n');
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(OP_SECRET);
    bystanders = { check: async () => undefined, finish: bystanders.finish };
  });
});
