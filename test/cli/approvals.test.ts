/**
 * CLI contract: `keygate approvals [--json]`, `keygate approve ID [--for D | --always]`,
 * `keygate deny ID`, and `agent add/set --ask`.
 *
 * Two halves, honestly split:
 *  - a real `keygate serve`: it records its control endpoint and approvals-only token in the
 *    0600 serve.json, the CLI lists through it, and the token opens nothing else;
 *  - held requests: the proxy does not call the approval hook on this branch yet, so the engine
 *    runs in this process (the same KeygateEngine, Controller and UI server serve assembles, and
 *    serve.json written as serve writes it), a request is held by calling the hook the proxy
 *    will call, and the built `keygate` CLI answers it from a child process.
 */
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalDeniedError } from '../../src/engine/errors.js';
import type { AdmittedRequest } from '../../src/engine/proxy/request-hooks.js';
import { removeRuntimeInfo, writeRuntimeInfo } from '../../src/engine/runtime-file.js';
import { startUiServer, type UiServer } from '../../src/engine/ui/ui-server.js';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { keygate, startServe, tempHome, type ServeHandle } from '../helpers/keygate-process.js';
import { keygateAsync, readSettings } from './cli-helpers.js';

type StoredAgent = { name: string; ask?: boolean; grants?: unknown[] };
function agentsIn(home: string): StoredAgent[] {
  return readSettings(home).agents as StoredAgent[];
}

interface ServeJson {
  pid: number;
  port: number;
  control?: { url: string; token: string };
}

function postApi(url: string, op: string, token: string | undefined, body = '{}') {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(new URL(`api/${op}`, url), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('approvals against a real keygate serve', () => {
  const home = tempHome('keygate-cli-approvals-');
  let serve: ServeHandle;

  beforeAll(async () => {
    serve = await startServe(home.home, ['--approval-timeout', '30']);
  });
  afterAll(async () => {
    await serve.stop();
    home.cleanup();
  });

  it('serve records an approvals-only control endpoint in its 0600 serve.json', async () => {
    const path = join(home.home, 'serve.json');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const info = JSON.parse(readFileSync(path, 'utf8')) as ServeJson;
    expect(info.control?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(info.control?.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { url, token } = info.control!;
    expect(await postApi(url, 'approvals.list', token)).toEqual({
      status: 200,
      body: '{"result":[]}',
    });
    // The token answers the approvals only; without one, nothing answers.
    expect((await postApi(url, 'agents.list', token)).status).toBe(403);
    expect((await postApi(url, 'approvals.list', undefined)).status).toBe(401);
    // Without --ui, no page is served.
    const page = await new Promise<number>((resolve, reject) =>
      http.get(url, (res) => resolve(res.statusCode ?? 0)).on('error', reject),
    );
    expect(page).toBe(404);
  });

  it('refuses an approval timeout out of range before starting', async () => {
    for (const value of ['0', '3601', '2m']) {
      const result = await keygateAsync(['serve', '--port', '0', '--approval-timeout', value], {
        home: home.home,
      });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain('--approval-timeout');
    }
  });

  it('lists nothing while nothing waits; unknown ids are usage errors', async () => {
    const json = await keygateAsync(['approvals', '--json'], { home: home.home });
    expect(json).toMatchObject({ status: 0, stdout: '[]\n' });
    const text = await keygateAsync(['approvals'], { home: home.home });
    expect(text).toMatchObject({ status: 0, stdout: '' });
    expect(text.stderr).toContain('nothing waiting');
    const approve = await keygateAsync(['approve', 'deadbeef'], { home: home.home });
    expect(approve.status).toBe(2);
    expect(approve.stderr).toMatch(/no pending approval "deadbeef"/);
    const deny = await keygateAsync(['deny', 'deadbeef'], { home: home.home });
    expect(deny.status).toBe(2);
  });

  it('agent add --ask and agent set --ask/--no-ask change the setting serve follows', () => {
    expect(keygate(['agent', 'add', 'claude', '--ask'], { home: home.home }).status).toBe(0);
    expect(keygate(['agent', 'add', 'ci'], { home: home.home }).status).toBe(0);
    const agents = () => Object.fromEntries(agentsIn(home.home).map((a) => [a.name, a.ask]));
    expect(agents()).toMatchObject({ claude: true, ci: undefined });
    expect(keygate(['agent', 'set', 'ci', '--ask'], { home: home.home }).stdout).toBe('ci: asks\n');
    expect(keygate(['agent', 'set', 'claude', '--no-ask'], { home: home.home }).stdout).toBe(
      'claude: does not ask\n',
    );
    expect(agents()).toMatchObject({ claude: undefined, ci: true });
    expect(keygate(['agent', 'set', 'ci'], { home: home.home }).status).toBe(2);
    const missing = keygate(['agent', 'set', 'nobody', '--ask'], { home: home.home });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/no agent named "nobody"/);
  });
});

describe('answering held requests from the CLI', () => {
  let fixture: EngineFixture;
  let ui: UiServer;

  beforeAll(async () => {
    fixture = await startEngine({ secrets: {}, extra: { approvalTimeoutMs: 90_000 } });
    fixture.engine.store.update((draft) => {
      draft.agents.push({
        name: 'claude',
        token: 'claude-token-0123456789abcdef0123456789abcdef',
        createdAt: new Date().toISOString(),
        ask: true,
      });
    });
    ui = await startUiServer({ controller: fixture.controller, host: '127.0.0.1' });
    writeRuntimeInfo(fixture.home, {
      pid: process.pid,
      host: '127.0.0.1',
      port: fixture.engine.port ?? 0,
      control: { url: ui.url, token: ui.controlToken },
    });
  });
  afterAll(async () => {
    removeRuntimeInfo(fixture.home, process.pid);
    await ui.close();
    await fixture.stop();
  });

  function hold(overrides: Partial<AdmittedRequest> = {}) {
    const request: AdmittedRequest = {
      agent: 'claude',
      mapping: 'api.anthropic.com',
      preset: 'anthropic',
      host: 'api.anthropic.com',
      port: 443,
      method: 'POST',
      path: '/v1/messages',
      shape: 'intercepted',
      ...overrides,
    };
    let outcome: 'pending' | 'allowed' | Error = 'pending';
    const done = Promise.resolve(
      fixture.engine.approvals.hooks.beforeSecret!(request, {
        signal: new AbortController().signal,
      }),
    ).then(
      () => (outcome = 'allowed'),
      (err: Error) => (outcome = err),
    );
    return { settled: async () => (await done, outcome), now: () => outcome };
  }

  async function listJson(): Promise<Record<string, unknown>[]> {
    const result = await keygateAsync(['approvals', '--json'], { home: fixture.home });
    expect(result.status).toBe(0);
    return JSON.parse(result.stdout) as Record<string, unknown>[];
  }

  it('lists a held request with exactly id, agent, mapping, host, method, path, since', async () => {
    const held = hold({ path: '/v1/messages' });
    const [row, ...rest] = await listJson();
    expect(rest).toEqual([]);
    expect(row).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}$/),
      agent: 'claude',
      mapping: 'api.anthropic.com',
      host: 'api.anthropic.com',
      method: 'POST',
      path: '/v1/messages',
      since: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
    });
    // The engine holds it for its approval timeout (serve --approval-timeout).
    const [view] = fixture.engine.approvals.list();
    expect(Date.parse(view!.expiresAt) - Date.parse(view!.since)).toBe(90_000);
    const text = await keygateAsync(['approvals'], { home: fixture.home });
    expect(text.stdout).toContain(`${String(row!.id)}\tclaude\tapi.anthropic.com\t`);

    const approve = await keygateAsync(['approve', String(row!.id), '--for', '1h'], {
      home: fixture.home,
    });
    expect(approve.status).toBe(0);
    expect(approve.stdout).toMatch(
      /^allowed claude → api\.anthropic\.com \(api\.anthropic\.com\) until /,
    );
    expect(await held.settled()).toBe('allowed');
    expect(await listJson()).toEqual([]);
  });

  it('deny refuses the held request with keygate_approval_denied', async () => {
    const held = hold({ mapping: 'api.openai.com', host: 'api.openai.com', preset: 'openai' });
    const [row] = await listJson();
    const deny = await keygateAsync(['deny', String(row!.id)], { home: fixture.home });
    expect(deny).toMatchObject({ status: 0 });
    expect(deny.stdout).toContain('denied claude → api.openai.com');
    const err = await held.settled();
    expect(err).toBeInstanceOf(ApprovalDeniedError);
    expect((err as InstanceType<typeof ApprovalDeniedError>).errorId).toBe(
      'keygate_approval_denied',
    );
  });

  it('approve --always stores the grant in settings; --for and --always together are refused', async () => {
    const held = hold({ mapping: '*.example.com', host: 'a.example.com' });
    const [row] = await listJson();
    const both = await keygateAsync(['approve', String(row!.id), '--always', '--for', '1h'], {
      home: fixture.home,
    });
    expect(both.status).toBe(2);
    const bad = await keygateAsync(['approve', String(row!.id), '--for', '9d'], {
      home: fixture.home,
    });
    expect(bad.status).toBe(2);
    expect(held.now()).toBe('pending');
    const always = await keygateAsync(['approve', String(row!.id), '--always'], {
      home: fixture.home,
    });
    expect(always.status).toBe(0);
    expect(await held.settled()).toBe('allowed');
    const claude = agentsIn(fixture.home).find((a) => a.name === 'claude');
    expect(claude?.grants).toEqual([
      { mapping: '*.example.com', host: 'a.example.com', at: expect.any(String) },
    ]);
  });
});
