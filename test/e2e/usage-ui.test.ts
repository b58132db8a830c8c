/**
 * Usage and budgets in the settings page of a real `keygate serve --ui`, in a real browser
 * (Debian's Chromium via playwright-core): an agent with a budget set from the CLI sends
 * requests through the proxy (undici, the agent's own setup) to a TLS upstream posing as
 * api.anthropic.com whose answers carry `usage` (1 input + 1 output token each); the Activity
 * section shows tokens today, a chart and a row per agent and day, and the budget refusing.
 *
 * Chromium is required: without /usr/bin/chromium this suite FAILS, never skips.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDay } from '../../src/engine/usage/usage-store.js';
import { agentEnvironment } from '../helpers/agent-env.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { keygate, REPO_ROOT, tempHome } from '../helpers/keygate-process.js';
import { createTestPki } from '../helpers/test-pki.js';
import { startUiServe, type UiServeHandle } from '../helpers/ui-serve.js';

const CHROMIUM = '/usr/bin/chromium';
const CANARY = 'sk-ant-usage-ui-CANARY-1d2c';
const home = tempHome('keygate-usage-ui-');
let upstream: FakeUpstream;
let serve: UiServeHandle;
let context: BrowserContext;
let page: Page;
let profileDir: string;
const pageProblems: string[] = [];

function poll<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 8000, interval: 100 });
}

async function send(agent: string): Promise<number> {
  const env = agentEnvironment(home.home, agent);
  const dispatcher = new ProxyAgent({
    uri: env.HTTPS_PROXY ?? '',
    requestTls: { ca: readFileSync(env.NODE_EXTRA_CA_CERTS ?? '', 'utf8') },
  });
  try {
    const response = await request('https://api.anthropic.com/v1/messages', {
      dispatcher,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'keygate-placeholder' },
      body: '{"model":"claude-test","max_tokens":1,"messages":[]}',
    });
    await response.body.dump();
    return response.statusCode;
  } finally {
    await dispatcher.close();
  }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium is missing at ${CHROMIUM}: these tests fail rather than skip.`);
  if (!existsSync(join(REPO_ROOT, 'dist', 'renderer', 'index.html')))
    throw new Error('the renderer is not built (run without KEYGATE_TEST_BUILD=engine)');
  const pki = await createTestPki();
  upstream = await startFakeUpstream({ hosts: ['api.anthropic.com'], pki });
  for (const args of [
    ['map', 'add', 'api.anthropic.com', 'env://ANTHROPIC_KEY', '--preset', 'anthropic'],
    ['agent', 'add', 'claude', '--max-requests', '2/h'],
    ['agent', 'add', 'codex'],
  ]) {
    const result = keygate(args, { home: home.home });
    expect(result.status, result.stderr).toBe(0);
  }
  serve = await startUiServe(
    home.home,
    ['--upstream-ca', pki.caPath, '--connect-to', `:443:127.0.0.1:${upstream.port}`],
    { ANTHROPIC_KEY: CANARY },
  );
  profileDir = mkdtempSync(join(tmpdir(), 'keygate-chromium-usage-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1040, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageProblems.push(`console: ${msg.text()}`);
  });
  await page.goto(serve.launchUrl);
  await page.locator('main h1', { hasText: 'Mappings' }).waitFor();
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await serve?.stop();
  await upstream?.close();
  home.cleanup();
});

describe('usage and budgets in the Activity section', () => {
  it('says nothing was counted yet', async () => {
    await page
      .getByRole('navigation', { name: 'Settings' })
      .getByRole('button', { name: 'Activity' })
      .click();
    const usage = page.locator('section.usage');
    await usage.waitFor();
    await poll(() => usage.locator('.usage-today').textContent()).toBe('0 tokens today');
    expect(await usage.locator('.usage-empty').isVisible()).toBe(true);
    expect(await usage.locator('.budget-hits').isHidden()).toBe(true);
  });

  it('shows tokens per agent per day, a bar per day, and the budget refusing claude', async () => {
    // claude: 2 per hour, so the third is refused (429) and not counted; codex: no budget.
    expect([await send('claude'), await send('claude'), await send('claude')]).toEqual([
      200, 200, 429,
    ]);
    expect(await send('codex')).toBe(200);
    const usage = page.locator('section.usage');
    const today = localDay(Date.now());
    await poll(() => usage.locator('.usage-today').textContent()).toBe('6 tokens today');
    const rows = usage.locator('tbody tr');
    await poll(() => rows.count()).toBe(2);
    expect(
      await rows.evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      ),
    ).toEqual([
      [today, 'claude', '2', '2', '2'],
      [today, 'codex', '1', '1', '1'],
    ]);
    // The chart: seven days, today's bar stacked from both agents (claude first: most tokens).
    const days = usage.locator('svg.usage-chart g[data-day]');
    expect(await days.count()).toBe(7);
    const bar = usage.locator(`svg.usage-chart g[data-day="${today}"]`);
    expect(await bar.getAttribute('data-total')).toBe('6');
    expect(
      await bar.locator('rect').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-agent'))),
    ).toEqual(['claude', 'codex']);
    const [claudeHeight, codexHeight] = await bar
      .locator('rect')
      .evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('height'))));
    expect(claudeHeight! / codexHeight!).toBeCloseTo(2, 1);
    expect(await usage.locator('.usage-legend li').allInnerTexts()).toEqual(['claude', 'codex']);
    // The budget: claude is refused until the hour frees.
    const hit = usage.locator('.budget-hits li.budget-hit');
    await poll(() => hit.count()).toBe(1);
    expect(await hit.getAttribute('data-agent')).toBe('claude');
    expect(await hit.innerText()).toMatch(
      /^claude: over budget \(2 of 2 requests this hour\); refused until \d\d:\d\d:\d\d$/,
    );
    // Counts only: the page never holds the key.
    expect(await page.content()).not.toContain(CANARY);
    expect(pageProblems).toEqual([]);
  });
});

describe("an agent's limits in the Agents section", () => {
  const settings = () =>
    JSON.parse(readFileSync(join(home.home, 'settings.json'), 'utf8')) as {
      agents: Array<{ name: string; budget?: Record<string, unknown> }>;
    };
  const budgetOf = (name: string) => settings().agents.find((a) => a.name === name)?.budget;

  it('shows the CLI-set limit, saves a new one, refuses a bad one and clears one', async () => {
    await page
      .getByRole('navigation', { name: 'Settings' })
      .getByRole('button', { name: 'Agents' })
      .click();
    const claudeRequests = page.getByLabel('Requests per hour for claude');
    const codexTokens = page.getByLabel('Tokens per day for codex');
    await poll(() => claudeRequests.inputValue()).toBe('2');
    expect(await codexTokens.inputValue()).toBe('');

    await codexTokens.fill('1,000');
    await codexTokens.press('Enter');
    await poll(() => budgetOf('codex')).toEqual({ maxTokensPerDay: 1000 });
    await poll(() => page.getByLabel('Tokens per day for codex').inputValue()).toBe('1000');

    await page.getByLabel('Requests per hour for codex').fill('lots');
    await page.getByLabel('Requests per hour for codex').press('Enter');
    await page
      .getByRole('alert')
      .filter({ hasText: 'codex: a limit is a whole number (empty: no limit)' })
      .waitFor();
    expect(await page.getByLabel('Requests per hour for codex').inputValue()).toBe('');
    expect(budgetOf('codex')).toEqual({ maxTokensPerDay: 1000 });

    // claude is over its 2 per hour: clearing the limit lets the next request through.
    expect(await send('claude')).toBe(429);
    await claudeRequests.fill('');
    await claudeRequests.press('Enter');
    await poll(() => budgetOf('claude')?.maxRequestsPerHour).toBeUndefined();
    await poll(() => send('claude')).toBe(200);
    expect(pageProblems).toEqual([]);
  });
});
