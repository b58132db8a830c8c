/**
 * Approvals in the settings page, in a real browser (Debian's Chromium via playwright-core):
 * a held request shows in the pending-approvals panel, and its buttons answer it.
 *
 * The proxy does not call the approval hook on this branch yet, so the engine runs in this
 * process (KeygateEngine, Controller and the UI server serving the built renderer, as
 * `serve --ui` assembles them) and a request is held by calling the hook the proxy will call.
 * An agent created in the page asks by default.
 *
 * Chromium is required: without /usr/bin/chromium this suite FAILS, never skips.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalDeniedError } from '../../src/engine/errors.js';
import type { AdmittedRequest } from '../../src/engine/proxy/request-hooks.js';
import { startUiServer, type UiServer } from '../../src/engine/ui/ui-server.js';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { REPO_ROOT } from '../helpers/keygate-process.js';

const CHROMIUM = '/usr/bin/chromium';
const RENDERER = join(REPO_ROOT, 'dist', 'renderer');

let fixture: EngineFixture;
let ui: UiServer;
let context: BrowserContext;
let page: Page;
let profileDir: string;
const pageProblems: string[] = [];

function poll<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 5000, interval: 50 });
}

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
    fixture.engine.approvals.hooks.beforeSecret!(request, { signal: new AbortController().signal }),
  ).then(
    () => (outcome = 'allowed'),
    (err: Error) => (outcome = err),
  );
  return { settled: async () => (await done, outcome), now: () => outcome };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium is missing at ${CHROMIUM}: these tests fail rather than skip.`);
  if (!existsSync(join(RENDERER, 'index.html')))
    throw new Error('the renderer is not built (run without KEYGATE_TEST_BUILD=engine)');
  fixture = await startEngine({ secrets: {} });
  fixture.engine.store.update((draft) => {
    draft.agents.push({
      name: 'claude',
      token: 'claude-token-0123456789abcdef0123456789abcdef',
      createdAt: new Date().toISOString(),
      ask: true,
    });
  });
  ui = await startUiServer({
    controller: fixture.controller,
    host: '127.0.0.1',
    staticDir: RENDERER,
  });
  profileDir = mkdtempSync(join(tmpdir(), 'keygate-chromium-approvals-'));
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
    viewport: { width: 1040, height: 720 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) pageProblems.push(`${response.status()} ${response.url()}`);
  });
  await page.goto(ui.launchUrl);
  await page.locator('main h1', { hasText: 'Mappings' }).waitFor();
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await ui?.close();
  await fixture?.stop();
});

describe('pending approvals in the page', () => {
  it('is hidden while nothing waits', async () => {
    expect(await page.locator('section.approvals').isHidden()).toBe(true);
  });

  it('shows a held request and Allow for 8 hours lets it go on', async () => {
    const held = hold();
    const row = page.locator('section.approvals li.approval');
    await poll(() => row.count()).toBe(1);
    expect((await row.innerText()).replace(/\s+/g, ' ')).toMatch(
      /^claude wants Anthropic \(api\.anthropic\.com\) — POST \/v1\/messages, since /,
    );
    mkdirSync(join(REPO_ROOT, 'test-results', 'screenshots'), { recursive: true });
    await page.screenshot({
      path: join(REPO_ROOT, 'test-results', 'screenshots', 'approvals.png'),
      animations: 'disabled',
    });
    await row.getByRole('button', { name: 'Allow for 8 hours' }).click();
    await poll(() => held.now()).toBe('allowed');
    await poll(() => page.locator('section.approvals').isHidden()).toBe(true);
    expect(fixture.engine.approvals.list()).toEqual([]);
    // The pair is approved: the next request is not held.
    expect(await hold().settled()).toBe('allowed');
  });

  it('Deny refuses it; Always stores a grant', async () => {
    const denied = hold({ mapping: 'api.openai.com', host: 'api.openai.com', preset: 'openai' });
    const always = hold({ mapping: '*.example.com', host: 'a.example.com', preset: undefined });
    const rows = page.locator('section.approvals li.approval');
    await poll(() => rows.count()).toBe(2);
    await page
      .locator('li.approval', { hasText: 'OpenAI' })
      .getByRole('button', { name: 'Deny' })
      .click();
    await poll(() => denied.now()).toBeInstanceOf(ApprovalDeniedError);
    await page
      .locator('li.approval', { hasText: 'a.example.com' })
      .getByRole('button', { name: 'Always' })
      .click();
    await poll(() => always.now()).toBe('allowed');
    await poll(() => rows.count()).toBe(0);
    const claude = fixture.engine.store.get().agents.find((a) => a.name === 'claude');
    expect(claude?.grants?.map((g) => [g.mapping, g.host])).toEqual([
      ['*.example.com', 'a.example.com'],
    ]);
  });

  it('an agent created in the page asks by default', async () => {
    await page
      .getByRole('navigation', { name: 'Settings' })
      .getByRole('button', { name: 'Agents' })
      .click();
    await page.getByRole('button', { name: 'New Agent…' }).click();
    const form = page.getByRole('form', { name: 'New agent' });
    await form.getByLabel('Name').fill('from-ui');
    expect(await form.getByLabel('Ask me before its first use of each key').isChecked()).toBe(true);
    await form.getByRole('button', { name: 'Create Agent' }).click();
    const row = page.locator('[data-section="agents"] tr[data-name="from-ui"]');
    await row.waitFor();
    const agent = () => fixture.engine.store.get().agents.find((a) => a.name === 'from-ui');
    expect(agent()?.ask).toBe(true);
    // Its switch turns asking off.
    await row.getByLabel('Ask before from-ui first uses each key').click();
    await poll(() => agent()?.ask).toBeUndefined();
    expect(pageProblems).toEqual([]);
  });
});
