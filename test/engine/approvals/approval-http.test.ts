/**
 * The approval hook behind a small real HTTP server that calls it the way the proxy does (after
 * admission, before the secret; the signal aborts when the agent's connection closes; a refusal
 * is answered with its status through the proxy's own `sendError`), driven by a real client.
 * The proxy wiring itself is tested end to end in test/integration/approvals-proxy.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { settingsApprovalPolicy } from '../../../src/engine/approvals/approval-policy.js';
import { ApprovalQueue } from '../../../src/engine/approvals/approval-queue.js';
import { KeygateError } from '../../../src/engine/errors.js';
import { sendError } from '../../../src/engine/proxy/error-response.js';
import type { RequestHooks } from '../../../src/engine/proxy/request-hooks.js';
import { SettingsStore } from '../../../src/engine/settings/settings-store.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-approvals-http-');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Answers 200 "upstream reached" once the hook lets the request through. */
async function hookedServer(hooks: RequestHooks): Promise<number> {
  const server = http.createServer((req, res) => {
    const closed = new AbortController();
    res.on('close', () => closed.abort());
    const path = (req.url ?? '/').split('?')[0]!;
    // As the proxy does (forward.ts passHooks): a hook may answer at once, even by throwing.
    new Promise<void>((resolve) =>
      resolve(
        hooks.beforeSecret?.(
          {
            agent: String(req.headers['x-agent']),
            mapping: 'api.anthropic.com',
            preset: 'anthropic',
            host: 'api.anthropic.com',
            port: 443,
            method: req.method ?? 'GET',
            path,
            shape: 'intercepted',
          },
          { signal: closed.signal },
        ),
      ),
    ).then(
      () => res.end('upstream reached'),
      (err: unknown) => {
        if (err instanceof KeygateError) sendError(res, err);
        else res.destroy(err as Error);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

function setup(timeoutMs = 120_000) {
  const store = SettingsStore.open(tempDir());
  cleanups.push(() => store.close());
  store.update((draft) => {
    draft.agents.push({
      name: 'claude',
      token: 'claude-token-0123456789abcdef0123456789abcdef',
      createdAt: new Date().toISOString(),
      ask: true,
    });
  });
  const queue = new ApprovalQueue({ policy: settingsApprovalPolicy(store), timeoutMs });
  cleanups.push(() => queue.close());
  return queue;
}

function get(port: number, agent: string, path = '/v1/messages?key=QUERY-CANARY') {
  const req = http.request({
    host: '127.0.0.1',
    port,
    path,
    method: 'POST',
    headers: { 'x-agent': agent, accept: 'application/json' },
  });
  const response = new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
    },
  );
  req.end('{"model":"x"}');
  return { req, response };
}

async function waitFor<T>(read: () => T, ok: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('approvals over HTTP', () => {
  it('holds a real request until approved; the approved pair then goes straight through', async () => {
    const queue = setup();
    const port = await hookedServer(queue.hooks);
    const first = get(port, 'claude');
    const [pending] = await waitFor(
      () => queue.list(),
      (list) => list.length === 1,
    );
    expect(pending!.path).toBe('/v1/messages');
    expect(JSON.stringify(queue.list())).not.toContain('QUERY-CANARY');
    queue.decide(pending!.id, 'allow');
    expect(await first.response).toMatchObject({ status: 200, body: 'upstream reached' });
    expect(await get(port, 'claude').response).toMatchObject({ status: 200 });
    // An agent that does not ask is never held.
    expect(await get(port, 'default').response).toMatchObject({ status: 200 });
  });

  it('answers a denial with 403 keygate_approval_denied', async () => {
    const queue = setup();
    const port = await hookedServer(queue.hooks);
    const first = get(port, 'claude');
    const [pending] = await waitFor(
      () => queue.list(),
      (list) => list.length === 1,
    );
    queue.decide(pending!.id, 'deny');
    const res = await first.response;
    expect(res.status).toBe(403);
    expect(res.headers['x-keygate-error']).toBe('keygate_approval_denied');
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'keygate_approval_denied' } });
    expect(res.headers['x-should-retry']).toBe('false');
  });

  it('answers a timeout with 403 keygate_approval_timeout', async () => {
    const queue = setup(100);
    const port = await hookedServer(queue.hooks);
    const res = await get(port, 'claude').response;
    expect(res.status).toBe(403);
    expect(res.headers['x-keygate-error']).toBe('keygate_approval_timeout');
    expect(queue.list()).toEqual([]);
  });

  it('drops the pending approval when the client hangs up', async () => {
    const queue = setup();
    const port = await hookedServer(queue.hooks);
    const first = get(port, 'claude');
    first.response.catch(() => undefined);
    await waitFor(
      () => queue.list(),
      (list) => list.length === 1,
    );
    first.req.destroy();
    await waitFor(
      () => queue.list(),
      (list) => list.length === 0,
    );
    expect(queue.held).toBe(0);
  });
});
