/**
 * Approvals, budgets and usage through the real proxy (issue 13): the engine in this process, a
 * real TLS upstream posing as api.anthropic.com (test CA) that answers in the recorded shapes,
 * and undici as the agent. What reached the upstream is checked each time: a held, denied or
 * over-budget request must never get there, nor cause a secret read.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { createTestPki } from '../helpers/test-pki.js';
import {
  ANTHROPIC_JSON,
  ANTHROPIC_JSON_USAGE,
  ANTHROPIC_SSE,
  ANTHROPIC_SSE_USAGE,
} from '../engine/usage/recorded-responses.js';

const SECRET = 'sk-ant-hooks-CANARY-9a8b7c6d';
const HOST = 'api.anthropic.com';

let fixture: EngineFixture;
let upstream: https.Server;
const reached: { agent: string | undefined; path: string; key: string | undefined }[] = [];

beforeAll(async () => {
  const pki = await createTestPki();
  const { certPem, keyPem } = await pki.issue([HOST]);
  upstream = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    reached.push({
      agent: req.headers['x-test-agent'] as string | undefined,
      path: req.url ?? '',
      key: req.headers['x-api-key'] as string | undefined,
    });
    req.resume();
    req.on('end', () => {
      if (req.headers['x-test-stream']) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(ANTHROPIC_SSE);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(ANTHROPIC_JSON);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  fixture = await startEngine({
    secrets: { ANTHROPIC_API_KEY: SECRET },
    mappings: [{ host: HOST, ref: 'env://ANTHROPIC_API_KEY', preset: 'anthropic' }],
    connectTo: [`${HOST}:443:127.0.0.1:${(upstream.address() as AddressInfo).port}`],
    upstreamCaFiles: [pki.caPath],
  });
  const add = fixture.controller.handlers['agents.add'];
  await add({ name: 'asker', ask: true });
  await add({ name: 'switcher', ask: true });
  await add({ name: 'leaver', ask: true });
  await add({ name: 'capped' });
  fixture.engine.store.update((draft) => {
    const capped = draft.agents.find((a) => a.name === 'capped')!;
    capped.budget = { maxRequestsPerHour: 2 };
  });
});

afterAll(async () => {
  await fixture?.stop();
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
});

async function post(agent: string, options: { stream?: boolean; signal?: AbortSignal } = {}) {
  const dispatcher = new ProxyAgent({
    uri: fixture.proxyUrl(agent),
    requestTls: { ca: fixture.engine.ca.certPem },
  });
  try {
    const response = await request(`https://${HOST}/v1/messages?beta=true`, {
      method: 'POST',
      dispatcher,
      headers: {
        'x-api-key': 'keygate-placeholder',
        'content-type': 'application/json',
        accept: 'application/json',
        'x-test-agent': agent,
        ...(options.stream ? { 'x-test-stream': '1' } : {}),
      },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [] }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const text = await response.body.text();
    return { status: response.statusCode, headers: response.headers, text };
  } finally {
    await dispatcher.close();
  }
}

async function until<T>(probe: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function pendingFor(agent: string) {
  return until(
    () => fixture.engine.approvals.list().find((p) => p.agent === agent),
    `a pending approval for ${agent}`,
  );
}

function reachedBy(agent: string) {
  return reached.filter((r) => r.agent === agent);
}

describe('approvals through the proxy', () => {
  it('holds the first request until allowed, then injects; the next one is not held', async () => {
    const held = post('asker');
    const pending = await pendingFor('asker');
    expect(pending).toMatchObject({
      agent: 'asker',
      mapping: HOST,
      host: HOST,
      method: 'POST',
      path: '/v1/messages',
    });
    expect(reachedBy('asker')).toEqual([]);
    fixture.engine.approvals.decide(pending.id, 'allow');
    const response = await held;
    expect(response.status).toBe(200);
    expect(reachedBy('asker')).toEqual([
      { agent: 'asker', path: '/v1/messages?beta=true', key: SECRET },
    ]);
    expect((await post('asker')).status).toBe(200);
    expect(fixture.engine.approvals.list()).toEqual([]);
  });

  it('deny: 403 keygate_approval_denied, x-should-retry false, and nothing reached the upstream', async () => {
    await fixture.controller.handlers['agents.add']({ name: 'denied', ask: true });
    const held = post('denied');
    fixture.engine.approvals.decide((await pendingFor('denied')).id, 'deny');
    const response = await held;
    expect(response.status).toBe(403);
    expect(response.headers['x-keygate-error']).toBe('keygate_approval_denied');
    expect(response.headers['x-should-retry']).toBe('false');
    expect(response.text).not.toContain(SECRET);
    expect(reachedBy('denied')).toEqual([]);
  });

  it('switching "Asks" off releases a held request', async () => {
    const held = post('switcher');
    await pendingFor('switcher');
    await fixture.controller.handlers['agents.set']({ name: 'switcher', ask: false });
    expect((await held).status).toBe(200);
    expect(reachedBy('switcher')).toHaveLength(1);
    expect(fixture.engine.approvals.list().filter((p) => p.agent === 'switcher')).toEqual([]);
  });

  it('the agent closing its connection drops its pending approval', async () => {
    const controller = new AbortController();
    const held = post('leaver', { signal: controller.signal }).catch((err: Error) => err);
    await pendingFor('leaver');
    controller.abort();
    await held;
    await until(
      () => (fixture.engine.approvals.list().some((p) => p.agent === 'leaver') ? undefined : true),
      'the approval to go',
    );
    expect(reachedBy('leaver')).toEqual([]);
  });
});

describe('budgets through the proxy', () => {
  it('over --max-requests: 429 keygate_budget_exceeded with Retry-After, before the upstream or the secret', async () => {
    expect((await post('capped')).status).toBe(200);
    expect((await post('capped')).status).toBe(200);
    const over = await post('capped');
    expect(over.status).toBe(429);
    expect(over.headers['x-keygate-error']).toBe('keygate_budget_exceeded');
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(reachedBy('capped')).toHaveLength(2);
  });
});

describe('usage through the proxy', () => {
  it('counts the usage of a JSON and an SSE answer per agent × mapping × model', async () => {
    await fixture.controller.handlers['agents.add']({ name: 'counted' });
    const json = await post('counted');
    expect(json.text).toBe(ANTHROPIC_JSON);
    const sse = await post('counted', { stream: true });
    expect(sse.text).toBe(ANTHROPIC_SSE);
    const rows = await until(() => {
      const mine = fixture.engine.usage.rows().filter((row) => row.agent === 'counted');
      return mine.reduce((n, row) => n + row.requests, 0) === 2 ? mine : undefined;
    }, 'two counted answers');
    const total = rows.reduce(
      (sum, row) => ({
        input: sum.input + row.inputTokens,
        output: sum.output + row.outputTokens,
      }),
      { input: 0, output: 0 },
    );
    expect(total).toEqual({
      input: ANTHROPIC_JSON_USAGE.input + ANTHROPIC_SSE_USAGE.input,
      output: ANTHROPIC_JSON_USAGE.output + ANTHROPIC_SSE_USAGE.output,
    });
    expect(rows.every((row) => row.mapping === HOST)).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(SECRET);
  });
});
