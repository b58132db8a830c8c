/**
 * CLI contract for usage and budgets (issue 13): `agent add/set --max-requests N/h
 * --max-tokens N/d` set budgets a running `keygate serve` enforces at the right request, with
 * curl as the agent and a real TLS upstream posing as api.anthropic.com (its answers carry
 * `usage`: 1 input + 1 output token each); `keygate usage [--json]` reports what was counted.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { localDay } from '../../src/engine/usage/usage-store.js';
import { agentEnvironment } from '../helpers/agent-env.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { keygate, startServe, tempHome, type ServeHandle } from '../helpers/keygate-process.js';
import { createTestPki } from '../helpers/test-pki.js';
import { keygateAsync, readSettings } from './cli-helpers.js';

const run = promisify(execFile);
const CANARY = 'sk-ant-budget-CANARY-5e6f';
const home = tempHome('keygate-cli-usage-');
let upstream: FakeUpstream;
let serve: ServeHandle;

beforeAll(async () => {
  const pki = await createTestPki();
  upstream = await startFakeUpstream({ hosts: ['api.anthropic.com'], pki });
  const map = keygate(
    ['map', 'add', 'api.anthropic.com', 'env://ANTHROPIC_KEY', '--preset', 'anthropic'],
    { home: home.home },
  );
  expect(map.status, map.stderr).toBe(0);
  serve = await startServe(
    home.home,
    ['--upstream-ca', pki.caPath, '--connect-to', `:443:127.0.0.1:${upstream.port}`],
    { ANTHROPIC_KEY: CANARY },
  );
});

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  home.cleanup();
});

interface Answer {
  status: number;
  headers: string;
}

/** One POST /v1/messages as the agent, with curl; the answer's status and headers. */
async function message(agent: string): Promise<Answer> {
  const env = { PATH: process.env.PATH ?? '', ...agentEnvironment(home.home, agent) };
  const { stdout } = await run(
    'curl',
    [
      '-sS',
      '-o',
      '/dev/null',
      '-D',
      '-',
      '-X',
      'POST',
      '-H',
      'content-type: application/json',
      '--data',
      '{"model":"claude-test","max_tokens":1,"messages":[]}',
      'https://api.anthropic.com/v1/messages',
    ],
    { env },
  );
  // curl -D prints the CONNECT answer first; the response is the last block.
  const blocks = stdout.split(/\r?\n\r?\n/).filter((b) => b.startsWith('HTTP/'));
  const last = blocks.at(-1) ?? '';
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(last)?.[1] ?? 0), headers: last };
}

async function statuses(agent: string, n: number): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < n; i++) answers.push(await message(agent));
  return answers;
}

type UsageJson = Array<Record<string, unknown>>;

describe('budgets set from the CLI, enforced by serve', () => {
  it('refuses bad limits with a named usage error, before writing anything', async () => {
    const results = await Promise.all(
      [
        ['agent', 'add', 'bad', '--max-requests', '0/h'],
        ['agent', 'add', 'bad', '--max-requests', '10/d'],
        ['agent', 'add', 'bad', '--max-tokens', 'lots'],
      ].map((args) => keygateAsync(args, { home: home.home })),
    );
    for (const result of results) {
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/--max-(requests|tokens)/);
      expect(result.stderr).toMatch(/expected a limit like/);
    }
    expect((readSettings(home.home).agents as { name: string }[]).map((a) => a.name)).not.toContain(
      'bad',
    );
  });

  it('--max-requests 3/h: the fourth request in the hour gets 429 with Retry-After and never reaches the upstream', async () => {
    const add = keygate(['agent', 'add', 'capped', '--max-requests', '3/h'], { home: home.home });
    expect(add.status, add.stderr).toBe(0);
    const listed = keygate(['agent', 'list'], { home: home.home }).stdout;
    expect(listed).toMatch(/^capped\t.*\t3 requests\/h$/m);
    // serve notices the new agent within a second (settings are polled).
    await vi.waitFor(async () => expect((await message('capped')).status).toBe(200), {
      timeout: 5_000,
      interval: 300,
    });
    const before = upstream.received.length;
    const answers = await statuses('capped', 3);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
    const refused = answers[2]!.headers;
    expect(refused).toMatch(/^x-keygate-error: keygate_budget_exceeded$/im);
    const retryAfter = Number(/^retry-after: (\d+)$/im.exec(refused)?.[1]);
    expect(retryAfter).toBeGreaterThan(3500);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(upstream.received.length - before).toBe(2);
  });

  it('agent set --max-requests none lifts the limit; serve follows without a restart', async () => {
    const set = keygate(['agent', 'set', 'capped', '--max-requests', 'none'], { home: home.home });
    expect(set).toMatchObject({ status: 0, stdout: 'capped: does not ask; no budget\n' });
    expect(
      (readSettings(home.home).agents as { name: string; budget?: unknown }[]).find(
        (a) => a.name === 'capped',
      )?.budget,
    ).toBeUndefined();
    await vi.waitFor(async () => expect((await message('capped')).status).toBe(200), {
      timeout: 5_000,
      interval: 300,
    });
  });

  it('--max-tokens 5/d: refused once the reported tokens reach the limit (the answer that crosses it is not cut)', async () => {
    expect(keygate(['agent', 'add', 'spender'], { home: home.home }).status).toBe(0);
    const set = keygate(['agent', 'set', 'spender', '--max-tokens', '5/d'], { home: home.home });
    expect(set).toMatchObject({ status: 0, stdout: 'spender: does not ask; 5 tokens/d\n' });
    await vi.waitFor(
      () =>
        expect(
          (readSettings(home.home).agents as { name: string; budget?: unknown }[]).find(
            (a) => a.name === 'spender',
          )?.budget,
        ).toEqual({ maxTokensPerDay: 5 }),
      { timeout: 1_000 },
    );
    // Let serve see the budget before the first request (it polls settings every 500 ms).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const answers = await statuses('spender', 4);
    // 2 tokens each: 2, 4, 6 ≥ 5, so the fourth is refused until local midnight.
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers[3]!.headers).toMatch(/^x-keygate-error: keygate_budget_exceeded$/im);
    expect(Number(/^retry-after: (\d+)$/im.exec(answers[3]!.headers)?.[1])).toBeGreaterThan(0);
  });
});

describe('a budget for one mapping', () => {
  it("--mapping NAME: the limit is that mapping's own; an unknown name is a usage error", async () => {
    expect(keygate(['agent', 'add', 'scoped'], { home: home.home }).status).toBe(0);
    const unknown = keygate(
      ['agent', 'set', 'scoped', '--mapping', 'api.openai.com', '--max-requests', '1/h'],
      { home: home.home },
    );
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(
      /no mapping named "api\.openai\.com" \(keygate map list: api\.anthropic\.com\)/,
    );
    const alone = keygate(['agent', 'set', 'scoped', '--mapping', 'api.anthropic.com'], {
      home: home.home,
    });
    expect(alone.status).toBe(2);
    expect(alone.stderr).toMatch(/--mapping needs --max-requests or --max-tokens/);
    const set = keygate(
      ['agent', 'set', 'scoped', '--mapping', 'api.anthropic.com', '--max-requests', '1/h'],
      { home: home.home },
    );
    expect(set).toMatchObject({
      status: 0,
      stdout: 'scoped: does not ask; api.anthropic.com: 1 requests/h\n',
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await statuses('scoped', 2)).map((a) => a.status)).toEqual([200, 429]);
    // Clearing the mapping's last limit removes the budget altogether.
    keygate(
      ['agent', 'set', 'scoped', '--mapping', 'api.anthropic.com', '--max-requests', 'none'],
      {
        home: home.home,
      },
    );
    expect(
      (readSettings(home.home).agents as { name: string; budget?: unknown }[]).find(
        (a) => a.name === 'scoped',
      )?.budget,
    ).toBeUndefined();
  });
});

describe('keygate usage', () => {
  it('--json: one row per agent × mapping × model × day, as counted (written within a second)', async () => {
    const today = localDay(Date.now());
    await vi.waitFor(
      async () => {
        const result = await keygateAsync(['usage', '--json'], { home: home.home });
        expect(result.status, result.stderr).toBe(0);
        const rows = JSON.parse(result.stdout) as UsageJson;
        expect(rows.find((r) => r.agent === 'spender')).toEqual({
          agent: 'spender',
          mapping: 'api.anthropic.com',
          model: 'fake',
          day: today,
          requests: 3,
          inputTokens: 3,
          outputTokens: 3,
        });
      },
      { timeout: 5_000, interval: 250 },
    );
    const rows = JSON.parse((await keygateAsync(['usage', '--json'], { home: home.home })).stdout);
    expect((rows as UsageJson).map((r) => r.agent).sort()).toEqual(['capped', 'scoped', 'spender']);
    const capped = (rows as UsageJson).find((r) => r.agent === 'capped')!;
    // Every answered request counted (the refused one never reached the upstream).
    expect(capped.requests).toBe(capped.inputTokens);
    expect(capped.requests).toBeGreaterThanOrEqual(4);
  });

  it('prints a table for people, and --since 1d is today only', async () => {
    const result = await keygateAsync(['usage', '--since', '1d'], { home: home.home });
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^day\s+agent\s+mapping\s+model\s+requests\s+input\s+output$/);
    expect(lines.some((l) => /\bspender\s+api\.anthropic\.com\s+fake\s+3\s+3\s+3$/.test(l))).toBe(
      true,
    );
    expect(result.stderr).toMatch(/tokens in 3 row\(s\)/);
    expect(result.stdout + result.stderr).not.toContain(CANARY);
  });

  it('names a bad --since (exit 2) and works with nothing recorded', async () => {
    for (const since of ['0d', '7', '1w', '91d']) {
      const result = await keygateAsync(['usage', '--since', since], { home: home.home });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/--since/);
      expect(result.stderr).toMatch(/expected a number of days like 7d/);
    }
    const empty = tempHome('keygate-cli-usage-empty-');
    try {
      const json = await keygateAsync(['usage', '--json'], { home: empty.home });
      expect(json).toMatchObject({ status: 0, stdout: '[]\n' });
      const text = await keygateAsync(['usage'], { home: empty.home });
      expect(text).toMatchObject({ status: 0, stdout: '' });
      expect(text.stderr).toMatch(/no usage recorded/);
    } finally {
      empty.cleanup();
    }
  });
});
