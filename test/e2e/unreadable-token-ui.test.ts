/**
 * Issue 10 §3 in the settings window: with garbage in onepassword-token.enc, `keygate serve --ui`
 * runs, its 1Password section (real Chromium, real renderer) shows why the token could not be
 * read, and Disconnect removes the garbage. Chromium is required (see settings-ui.test.ts).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tempHome } from '../helpers/keygate-process.js';
import { startUiServe, type UiServeHandle } from '../helpers/ui-serve.js';

const CHROMIUM = '/usr/bin/chromium';
let home: ReturnType<typeof tempHome>;
let serve: UiServeHandle;
let context: BrowserContext;
let page: Page;
let profileDir: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}`);
  home = tempHome('keygate-e2e-unreadable-');
  writeFileSync(join(home.home, 'onepassword-token.enc'), 'garbage', { mode: 0o600 });
  serve = await startUiServe(home.home, [], { OP_SERVICE_ACCOUNT_TOKEN: '' });
  profileDir = mkdtempSync(join(tmpdir(), 'keygate-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = context.pages()[0] ?? (await context.newPage());
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await serve?.stop();
  home?.cleanup();
});

it('the 1Password section shows why the stored token is unreadable, and Disconnect clears it', async () => {
  await page.goto(serve.launchUrl);
  await page
    .getByRole('navigation', { name: 'Settings' })
    .getByRole('button', { name: '1Password' })
    .click();
  const status = page.locator('[data-section="onepassword"] .group-box').first();
  await expect
    .poll(() => status.innerText(), { timeout: 5000 })
    .toMatch(/the stored 1Password token could not be read/);
  await status.getByRole('button', { name: 'Disconnect' }).click();
  await status.getByRole('button', { name: 'Confirm Disconnect' }).click();
  await expect.poll(() => status.innerText(), { timeout: 5000 }).toContain('Not connected');
  // The reason line follows the next status read, which may come a moment after the answer.
  await expect.poll(() => status.innerText(), { timeout: 5000 }).not.toMatch(/could not be read/);
  expect(existsSync(join(home.home, 'onepassword-token.enc'))).toBe(false);
}, 30_000);
