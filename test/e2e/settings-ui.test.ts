/**
 * The settings window in a real browser (Debian's Chromium, driven by playwright-core) against a
 * real `keygate serve --ui`: real controller and engine, env:// secrets, the fake 1Password client
 * (KEYGATE_OP_CLIENT_MODULE), and a fake upstream reached through the proxy. Screenshots, light
 * and dark, go to test-results/screenshots/; with UPDATE_DOCS_SCREENSHOT=1 the light Mappings
 * one also goes to docs/images/ for the README.
 *
 * Chromium is required: without /usr/bin/chromium this suite FAILS (CI installs it), never skips.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentEnvironment } from '../helpers/agent-env.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { REPO_ROOT, tempHome } from '../helpers/keygate-process.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startUiServe, type UiServeHandle } from '../helpers/ui-serve.js';
import { fakeToken } from '../helpers/fake-op-client.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = join(REPO_ROOT, 'test-results', 'screenshots');
const README_IMAGE = join(REPO_ROOT, 'docs', 'images', 'settings.png');

const OP_TOKEN = fakeToken('e2e-fake-token-CANARY-5150');
const ENV_CANARY = 'sk-e2e-env-CANARY-openai-8086';
const OP_OPENAI_CANARY = 'sk-e2e-op-CANARY-openai-6502';
const OP_ANTHROPIC_CANARY = 'sk-ant-e2e-op-CANARY-z80';
const QUERY_CANARY = 'QUERY-CANARY-6809';
const SECRETS = [OP_TOKEN, ENV_CANARY, OP_OPENAI_CANARY, OP_ANTHROPIC_CANARY, QUERY_CANARY];

const opState = {
  token: OP_TOKEN,
  vaults: [{ id: 'v1', title: 'AI' }],
  items: [
    {
      id: 'i1',
      title: 'OpenAI',
      category: 'ApiCredentials',
      vaultId: 'v1',
      websites: [{ url: 'https://api.openai.com', label: 'API' }],
      fields: [
        { id: 'credential', title: 'credential', fieldType: 'Concealed', value: OP_OPENAI_CANARY },
      ],
    },
    {
      id: 'i2',
      title: 'Anthropic',
      category: 'ApiCredentials',
      vaultId: 'v1',
      websites: [{ url: 'https://api.anthropic.com/', label: 'API' }],
      fields: [
        {
          id: 'credential',
          title: 'credential',
          fieldType: 'Concealed',
          value: OP_ANTHROPIC_CANARY,
        },
      ],
    },
  ],
};

function fingerprint(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 12)}`;
}

let pki: TestPki;
let upstream: FakeUpstream;
let home: ReturnType<typeof tempHome>;
let serve: UiServeHandle;
let context: BrowserContext;
let page: Page;
let profileDir: string;
const pageProblems: string[] = [];

/** Everything the page shows or holds in its DOM, for the "never a secret" checks. */
async function pageText(): Promise<string> {
  return (await page.content()) + (await page.locator('body').innerText());
}

async function expectNoSecretsInPage(): Promise<void> {
  const text = await pageText();
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

async function openSection(name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Settings' }).getByRole('button', { name }).click();
  await poll(() => page.locator('main h1:visible').textContent()).toBe(name);
}

function mappingRow(name: string) {
  return page.locator(`[data-section="mappings"] tr[data-name="${name}"]`);
}

/** Waits up to 5 s for a condition the UI reaches asynchronously. */
function poll<T>(read: () => Promise<T>) {
  return expect.poll(read, { timeout: 5000, interval: 50 });
}

async function screenshot(name: string): Promise<string> {
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, animations: 'disabled', caret: 'hide' });
  return path;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: the browser end-to-end tests need Debian's chromium package (apt-get install chromium). They fail rather than skip.`,
    );
  }
  pki = await createTestPki();
  upstream = await startFakeUpstream({ hosts: ['api.openai.com', 'api.anthropic.com'], pki });
  home = tempHome('keygate-e2e-');
  const statePath = `${home.home}-op-state.json`;
  writeFileSync(statePath, JSON.stringify(opState));
  serve = await startUiServe(
    home.home,
    ['--upstream-ca', pki.caPath, '--connect-to', `:443:127.0.0.1:${upstream.port}`],
    {
      KEYGATE_OP_CLIENT_MODULE: join(REPO_ROOT, 'test', 'fixtures', 'fake-op-module.mjs'),
      FAKE_OP_STATE: statePath,
      OP_SERVICE_ACCOUNT_TOKEN: '',
      KG_E2E_OPENAI_KEY: ENV_CANARY,
    },
  );
  mkdirSync(SCREENSHOTS, { recursive: true });
  profileDir = mkdtempSync(join(tmpdir(), 'keygate-chromium-'));
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
    deviceScaleFactor: 2,
    colorScheme: 'light',
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Refused API calls (400 with the engine's message) are part of the flows under test, and
    // Chromium logs each as a failed load; responses are checked below instead.
    if (msg.text().startsWith('Failed to load resource')) return;
    if (msg.type() === 'error' || msg.type() === 'warning')
      pageProblems.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on('response', (response) => {
    const url = new URL(response.url());
    const refused = url.pathname.startsWith('/api/') && response.status() === 400;
    if (response.status() >= 400 && !refused)
      pageProblems.push(`${response.status()} ${url.pathname}`);
  });
  page.on('requestfailed', (req) => pageProblems.push(`failed: ${req.url()}`));
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await serve?.stop();
  await upstream?.close();
  if (home) rmSync(`${home.home}-op-state.json`, { force: true });
  home?.cleanup();
});

describe('settings window', () => {
  it('opens from the printed link and drops the token from the address bar', async () => {
    await page.goto(serve.launchUrl);
    await poll(() => page.locator('main h1:visible').textContent()).toBe('Mappings');
    expect(page.url()).not.toContain(serve.uiToken);
    expect(page.url()).toBe(`${serve.uiOrigin}/#mappings`);
    await poll(() => page.locator('.sidebar-status .proxy-address').textContent()).toBe(
      `127.0.0.1:${serve.port}`,
    );
    // A reload keeps working (the token moved to this tab's session storage).
    await page.reload();
    await poll(() => page.locator('main h1:visible').textContent()).toBe('Mappings');
    await poll(() => page.locator('.empty-title:visible').textContent()).toBe('No mappings yet');
  });

  it('the 1Password token flow: a malformed token is refused with its reason, a good one connects', async () => {
    await openSection('1Password');
    await poll(() => page.locator('[data-section="onepassword"]').innerText()).toContain(
      'Not connected',
    );
    const input = page.getByLabel('Service account token');
    await input.fill('not-a-token');
    await input.press('Enter');
    const message = page.locator('#' + (await input.getAttribute('id')) + '-message');
    await poll(() => message.textContent()).toMatch(/not a valid 1Password service account token/);
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    expect(await input.inputValue()).toBe('');

    await input.fill(OP_TOKEN);
    await input.press('Enter');
    await poll(() => message.textContent()).toBe('Connected: 1 vault visible.');
    const status = page.locator('[data-section="onepassword"] .group-box').first();
    await poll(() => status.innerText()).toMatch(/Vaults visible\s+1/);
    expect(await status.innerText()).toContain('Service account token (stored, encrypted)');
    expect(await input.inputValue()).toBe('');
    await expectNoSecretsInPage();
  });

  it('adds a mapping and tests it: ok and a fingerprint, never the value', async () => {
    await openSection('Mappings');
    await page.getByRole('button', { name: 'Add Mapping…' }).click();
    const form = page.getByRole('form', { name: 'Mapping' });
    await poll(() => page.locator(':focus').getAttribute('name')).toBe('host');
    await form.getByLabel('Host').fill('api.openai.com');
    await form.getByLabel('Secret reference').fill('env://KG_E2E_OPENAI_KEY');
    await form.getByLabel('Injection').selectOption('preset:openai');
    await form.getByLabel('Secret reference').press('Enter');
    const row = mappingRow('api.openai.com');
    await row.waitFor();
    expect(await row.innerText()).toMatch(
      /^api\.openai\.com\s+openai\s*Authorization: Bearer\s+env:\/\/KG_E2E_OPENAI_KEY/,
    );
    expect(await form.isHidden()).toBe(true);

    await row.getByRole('button', { name: 'Test' }).click();
    const detail = page.locator('tr[data-detail-for="api.openai.com"]');
    await poll(() => detail.innerText()).toContain(fingerprint(ENV_CANARY));
    expect((await detail.innerText()).replace(/\s+/g, ' ')).toContain(
      `Resolves ${fingerprint(ENV_CANARY)} · ${ENV_CANARY.length} characters`,
    );
    await expectNoSecretsInPage();
  });

  it('shows a bad reference’s message under the reference field; Escape cancels', async () => {
    await page.getByRole('button', { name: 'Add Mapping…' }).click();
    const form = page.getByRole('form', { name: 'Mapping' });
    const ref = form.getByLabel('Secret reference');
    const refMessage = page.locator('#' + (await ref.getAttribute('id')) + '-message');
    await form.getByLabel('Host').fill('api.anthropic.com');

    await ref.fill('op://AI/Anthropic');
    await ref.press('Enter');
    await poll(() => refMessage.textContent()).toMatch(/^ref op:\/\/…: /);
    expect(await ref.getAttribute('aria-invalid')).toBe('true');

    // A reference that is well-formed but does not resolve is refused with 1Password's reason.
    await ref.fill('op://AI/Missing/credential');
    await ref.press('Enter');
    await poll(() => refMessage.textContent()).toMatch(
      /^op:\/\/AI\/Missing\/credential does not resolve/,
    );

    // A pasted key is never echoed back.
    await ref.fill(OP_ANTHROPIC_CANARY);
    await ref.press('Enter');
    await poll(() => refMessage.textContent()).toContain('(not shown');
    await ref.fill('');
    await expectNoSecretsInPage();

    await ref.press('Escape');
    expect(await form.isHidden()).toBe(true);
    expect(await mappingRow('api.anthropic.com').count()).toBe(0);
  });

  it('edits a mapping to a 1Password reference and tests it again', async () => {
    const row = mappingRow('api.openai.com');
    await row.getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: 'Mapping' });
    const ref = form.getByLabel('Secret reference');
    expect(await ref.inputValue()).toBe('env://KG_E2E_OPENAI_KEY');
    expect(await form.getByLabel('Injection').inputValue()).toBe('preset:openai');
    await ref.fill('op://AI/OpenAI/credential');
    await ref.press('Enter');
    await poll(() => row.innerText()).toContain('op://AI/OpenAI/credential');
    expect(await page.locator('[data-section="mappings"] tbody tr[data-name]').count()).toBe(1);
    await row.getByRole('button', { name: 'Test' }).click();
    await poll(() => page.locator('tr[data-detail-for="api.openai.com"]').innerText()).toContain(
      fingerprint(OP_OPENAI_CANARY),
    );
    await expectNoSecretsInPage();
  });

  it('imports a suggestion from 1Password, confirmed one by one', async () => {
    await page.getByRole('button', { name: 'Import from 1Password…' }).click();
    const panel = page.getByRole('region', { name: 'Import from 1Password' });
    const anthropic = panel.locator('li[data-host="api.anthropic.com"]');
    await anthropic.waitFor();
    expect(await anthropic.innerText()).toContain('op://AI/Anthropic/credential');
    // The OpenAI host is mapped already: offered, but not addable twice.
    expect(
      await panel
        .locator('li[data-host="api.openai.com"] button', { hasText: 'Mapped' })
        .isDisabled(),
    ).toBe(true);
    await anthropic.getByRole('button', { name: 'Add' }).click();
    await mappingRow('api.anthropic.com').waitFor();
    expect(await mappingRow('api.anthropic.com').innerText()).toMatch(
      /anthropic\s*x-api-key header\s+op:\/\/AI\/Anthropic\/credential/,
    );
    await panel.getByRole('button', { name: 'Done' }).click();
    expect(await panel.isHidden()).toBe(true);
  });

  it('flags a mapping whose secret does not resolve as stale', async () => {
    await page.getByRole('button', { name: 'Add Mapping…' }).click();
    const form = page.getByRole('form', { name: 'Mapping' });
    await form.getByLabel('Host').fill('api.github.com');
    await form.getByLabel('Secret reference').fill('env://KG_E2E_UNSET_TOKEN');
    await form.getByLabel('Injection').selectOption('preset:github');
    await form.getByLabel('Host').press('Enter');
    const row = mappingRow('api.github.com');
    await row.waitFor();
    await row.getByRole('button', { name: 'Test' }).click();
    const detail = page.locator('tr[data-detail-for="api.github.com"]');
    await poll(() => detail.innerText()).toMatch(/Fails/);
    expect(await detail.innerText()).toContain('KG_E2E_UNSET_TOKEN');
    await poll(() => row.locator('.badge').textContent()).toBe('Stale');
    expect(await page.locator('[data-section="mappings"] .footnote').textContent()).toBe(
      '3 mappings, 1 stale',
    );
  });

  it('shows the activity row after a real proxied request, without its query string', async () => {
    const env = agentEnvironment(home.home);
    const proxyUrl = env.HTTPS_PROXY ?? '';
    const keygateCa = readFileSync(env.NODE_EXTRA_CA_CERTS ?? '', 'utf8');
    const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: keygateCa } });
    try {
      const response = await request(`https://api.openai.com/v1/models?key=${QUERY_CANARY}`, {
        dispatcher,
        headers: { authorization: 'Bearer keygate-placeholder' },
      });
      expect(response.statusCode).toBe(200);
      await response.body.dump();
    } finally {
      await dispatcher.close();
    }
    // What reached the upstream: the 1Password value, not the placeholder. (Keygate scrubs the
    // upstream's echo of it on the way back, so the response is no witness.)
    expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${OP_OPENAI_CANARY}`);
    expect(upstream.received.at(-1)?.url).toBe(`/v1/models?key=${QUERY_CANARY}`);
    await openSection('Activity');
    const row = page.locator('[data-section="activity"] tbody tr[data-outcome="injected"]').first();
    await row.waitFor({ timeout: 5000 });
    const cells = await row.locator('td').allInnerTexts();
    expect(cells.slice(1)).toEqual([
      'api.openai.com',
      'GET',
      '/v1/models',
      '200',
      'api.openai.com',
      expect.stringMatching(/^\d+ ms$/),
      'Injected',
    ]);
    expect(cells[0]).toMatch(/^\d\d:\d\d:\d\d$/);
    await expectNoSecretsInPage();
  });

  it('creates an agent (token shown once), copies its setup, and revokes it', async () => {
    await openSection('Agents');
    await page.getByRole('button', { name: 'New Agent…' }).click();
    const form = page.getByRole('form', { name: 'New agent' });
    await form.getByLabel('Name').fill('ci-bot');
    await form.getByLabel('Hosts').fill('api.openai.com');
    await form.getByLabel('Name').press('Enter');
    const token = page.getByLabel('Proxy token for ci-bot');
    await token.waitFor();
    expect(await token.inputValue()).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    const agentRow = page.locator('[data-section="agents"] tr[data-name="ci-bot"]');
    expect(await agentRow.innerText()).toContain('api.openai.com');

    await agentRow.getByRole('button', { name: 'Copy Setup' }).click();
    const lines = page.getByLabel('Setup for ci-bot');
    await lines.waitFor();
    const text = await lines.innerText();
    expect(text).toMatch(/^export HTTPS_PROXY='http:\/\/ci-bot:[^']+@127\.0\.0\.1:\d+'$/m);
    expect(text).toMatch(/^export NODE_EXTRA_CA_CERTS='.+ca\.pem'$/m);
    expect(text).toContain(`:${serve.port}'`);
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(text);

    await page.getByRole('button', { name: 'Done' }).click();
    const revoke = agentRow.getByRole('button', { name: 'Revoke' });
    await revoke.click();
    await agentRow.getByRole('button', { name: 'Confirm Revoke' }).click();
    await agentRow.waitFor({ state: 'detached' });
    expect(await page.locator('[data-section="agents"] tr[data-name="default"]').count()).toBe(1);
  });

  it('shows the certificate and explains trusting it from a browser', async () => {
    await openSection('Certificate');
    const body = page.locator('[data-section="certificate"]');
    await poll(() => body.innerText()).toMatch(/SHA-256\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    expect(await body.innerText()).toContain(join(home.home, 'ca'));
    await body.getByRole('button', { name: 'Trust…' }).click();
    expect(await page.getByLabel('Trust command').innerText()).toMatch(
      /^security add-trusted-cert -r trustRoot -k ~\/Library\/Keychains\/login\.keychain-db '.+\.pem'$/,
    );
  });

  it('exports the certificate as a download of ca.pem', async () => {
    const body = page.locator('[data-section="certificate"]');
    await body.getByRole('button', { name: 'Export…' }).click();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      body.getByRole('button', { name: 'Save keygate-ca.pem…' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('keygate-ca.pem');
    const saved = readFileSync(await download.path(), 'utf8');
    expect(saved).toBe(readFileSync(join(home.home, 'ca', 'ca.pem'), 'utf8'));
    expect(saved).not.toContain('PRIVATE KEY');
  });

  it('shows the proxy’s port and mode, runs the checks; launch at login is app-only', async () => {
    await openSection('General');
    const body = page.locator('[data-section="general"]');
    // serve was started with --port 0: it pins the port, and the saved one (the default) waits.
    await poll(() => body.innerText()).toMatch(
      new RegExp(`Listening on ${serve.port}: keygate serve --port pins it`),
    );
    expect(await body.getByLabel('Port', { exact: true }).inputValue()).toBe('8790');
    expect(await body.getByRole('switch', { name: 'Deny unmapped hosts' }).isChecked()).toBe(false);
    expect(await body.innerText()).toMatch(/Hosts without a mapping are tunneled untouched/);
    expect(await body.getByRole('switch', { name: 'Proxy enabled' }).isChecked()).toBe(true);
    expect(await body.getByText('Launch at login').count()).toBe(0);
    await body.getByRole('button', { name: 'Run Checks' }).click();
    const portCheck = body.locator('.check', { hasText: 'port' }).first();
    await portCheck.waitFor();
    expect((await portCheck.innerText()).replace(/\s+/g, ' ')).toBe(
      `OK port Keygate is listening on 127.0.0.1:${serve.port}`,
    );
    // The stale mapping's variable is missing in this environment too.
    expect(await body.locator('.check.failed').allInnerTexts()).toEqual([
      expect.stringContaining('KG_E2E_UNSET_TOKEN'),
    ]);
  });

  it('saves the port and the unmapped-host policy; the policy applies at once', async () => {
    const body = page.locator('[data-section="general"]');
    const settings = () =>
      JSON.parse(readFileSync(join(home.home, 'settings.json'), 'utf8')) as {
        proxy: { port: number; denyUnmapped: boolean };
        agents: { token: string }[];
      };
    await body.getByLabel('Port', { exact: true }).fill('18790');
    await body.getByRole('button', { name: 'Save Port' }).click();
    await poll(() => body.locator('.section-message').innerText()).toMatch(/Port 18790 saved/);
    expect(settings().proxy.port).toBe(18790);
    await body.getByLabel('Port', { exact: true }).fill('80');
    await body.getByRole('button', { name: 'Save Port' }).click();
    await poll(() => body.locator('.section-message').innerText()).toMatch(
      /port must be a whole number from 1024 to 65535/,
    );
    expect(settings().proxy.port).toBe(18790);

    const unmappedConnect = async () => {
      const token = settings().agents[0]?.token ?? '';
      const auth = `Basic ${Buffer.from(`default:${token}`).toString('base64')}`;
      const response = await new Promise<string>((resolve, reject) => {
        const socket = connect(serve.port, '127.0.0.1', () =>
          socket.write(
            `CONNECT unmapped.example.test:443 HTTP/1.1\r\nHost: unmapped.example.test:443\r\nProxy-Authorization: ${auth}\r\n\r\n`,
          ),
        );
        socket.once('data', (chunk: Buffer) => {
          resolve(chunk.toString('latin1'));
          socket.destroy();
        });
        socket.once('error', reject);
      });
      return response.split('\r\n')[0];
    };
    const deny = body.getByRole('switch', { name: 'Deny unmapped hosts' });
    await deny.click();
    await poll(() => body.innerText()).toMatch(/Hosts without a mapping get 403/);
    expect(settings().proxy.denyUnmapped).toBe(true);
    expect(await unmappedConnect()).toMatch(/^HTTP\/1\.1 403/);
    await deny.click();
    await poll(() => body.innerText()).toMatch(/Hosts without a mapping are tunneled untouched/);
    expect(settings().proxy.denyUnmapped).toBe(false);
    // Put the port back, so the screenshots below show the defaults.
    await body.getByLabel('Port', { exact: true }).fill('8790');
    await body.getByRole('button', { name: 'Save Port' }).click();
    await poll(async () => settings().proxy.port).toBe(8790);
  });

  it('saves screenshots, light and dark', async () => {
    const sections = ['1Password', 'Mappings', 'Agents', 'Certificate', 'Activity', 'General'];
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const name of sections) {
        await openSection(name);
        if (name === 'Mappings') {
          // Show test results in the picture.
          for (const host of ['api.openai.com', 'api.anthropic.com']) {
            await mappingRow(host).getByRole('button', { name: 'Test' }).click();
            await page.locator(`tr[data-detail-for="${host}"]`).waitFor();
          }
          await page.locator('#content').focus();
        }
        if (name === '1Password')
          await page.locator('[data-section="onepassword"] .vault-count').waitFor();
        if (name === 'Activity')
          await page.locator('[data-section="activity"] tbody tr').first().waitFor();
        await page.mouse.move(0, 700);
        await screenshot(`${name.toLowerCase()}-${scheme}`);
      }
    }
    // The README's picture: Mappings, light, in a window sized to its content, without the
    // transient "Added …" confirmation.
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1040, height: 560 });
    await openSection('Mappings');
    await page.evaluate(
      "document.querySelectorAll('.section-message').forEach((m) => { m.hidden = true; })",
    );
    const shot = await screenshot('settings');
    expect(existsSync(shot)).toBe(true);
    // The README's picture is refreshed on request only, so a test run never dirties the tree.
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') {
      mkdirSync(dirname(README_IMAGE), { recursive: true });
      copyFileSync(shot, README_IMAGE);
    }
    await page.setViewportSize({ width: 1040, height: 720 });
    await expectNoSecretsInPage();
  });

  it('deletes a mapping, leaving the others', async () => {
    await openSection('Mappings');
    const row = mappingRow('api.openai.com');
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('button', { name: 'Confirm Delete' }).click();
    await row.waitFor({ state: 'detached' });
    expect(await mappingRow('api.anthropic.com').count()).toBe(1);
    await poll(() => page.locator('[data-section="mappings"] .section-message').textContent()).toBe(
      'Deleted api.openai.com.',
    );
  });

  it('disconnects 1Password', async () => {
    await openSection('1Password');
    const status = page.locator('[data-section="onepassword"] .group-box').first();
    await status.getByRole('button', { name: 'Disconnect' }).click();
    await status.getByRole('button', { name: 'Confirm Disconnect' }).click();
    await poll(() => status.innerText()).toContain('Not connected');
    expect(existsSync(join(home.home, 'onepassword-token.enc'))).toBe(false);
  });

  it('logged no page errors, CSP violations or failed loads', async () => {
    expect(pageProblems).toEqual([]);
    expect(serve.stderr()).not.toMatch(new RegExp(SECRETS.join('|')));
    await expectNoSecretsInPage();
  });
});
