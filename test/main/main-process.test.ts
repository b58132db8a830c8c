/**
 * Runs the real compiled main process (dist/main/main.js) in plain Node, with `electron` resolved
 * to a fake that reports what the app does and lets the test click menu items and call IPC
 * channels (fixtures/fake-electron). The engine, controller, settings and token store are real,
 * over a temporary home. What this cannot show is Electron's own behaviour; what it does show is
 * that the main process starts, wires every piece, serves the contract over IPC to the settings
 * page only, follows the menu, survives a port in use, and quits cleanly.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanUp,
  dirs,
  servers,
  SETTINGS_URL,
  start,
  type FakeApp,
  type MenuItem,
} from './fixtures/fake-app.js';
import { API_OPERATIONS } from '../../src/shared/api.js';
import { agentEnvironment } from '../helpers/agent-env.js';
import { keygate, REPO_ROOT } from '../helpers/keygate-process.js';
import { fakeToken } from '../helpers/fake-op-client.js';

afterEach(cleanUp);

const statusLines = (items: MenuItem[]) =>
  items.filter((i) => i.enabled === false && i.type === undefined).map((i) => i.label ?? '');
const listening = (items: MenuItem[]) =>
  /^Listening on 127\.0\.0\.1:\d+$/.test(statusLines(items)[0] ?? '');
const item = (items: MenuItem[], label: string) => items.find((i) => i.label?.startsWith(label));

describe('the main process, in Node with a fake electron', () => {
  it('starts the engine, serves the contract to the settings page only, follows the menu, quits cleanly', async () => {
    const { app, home } = start(0);
    await app.waitFor((e) => e.event === 'dock-hidden', 'the Dock icon hidden');
    await app.waitFor((e) => e.event === 'tray', 'the tray');
    const menu = await app.waitForMenu(listening, 'a listening menu');
    expect(statusLines(menu)[1]).toBe('0 requests injected today');
    expect(item(menu, 'Proxy Enabled')).toMatchObject({ type: 'checkbox', checked: true });
    expect(item(menu, 'Trust Certificate')).toMatchObject({
      enabled: process.platform === 'darwin',
    });
    const port = Number(/:(\d+)$/.exec(statusLines(menu)[0]!)![1]);

    // The tray icon files exist (the fake reports an empty image as a logged error).
    const icons = app.events.filter((e) => e.event === 'tray' || e.event === 'tray-icon');
    for (const e of icons) expect(existsSync(String(e.icon))).toBe(true);
    expect(app.events.at(-1)).toBeDefined();

    // IPC: one channel per operation, answered for the settings page, refused for anyone else.
    const channels = (await app.send({ cmd: 'channels' })).value as string[];
    expect(channels.sort()).toEqual(API_OPERATIONS.map((op) => `keygate:${op}`).sort());
    await expect(app.invoke('proxy.status')).resolves.toMatchObject({
      result: { running: true, address: `http://127.0.0.1:${port}` },
    });
    await expect(app.invoke('mappings.list')).resolves.toEqual({ result: [] });
    await expect(app.invoke('token.status')).resolves.toMatchObject({
      result: { tokenSource: 'none' },
    });
    await expect(app.invoke('proxy.status', {}, 'https://evil.example/')).resolves.toEqual({
      error: {
        name: 'UntrustedSenderError',
        code: 'untrusted_sender',
        message: 'proxy.status is only available to Keygate Settings',
      },
    });
    await expect(app.invoke('agents.remove', 'not an object')).resolves.toMatchObject({
      error: { name: 'InvalidRequestError', code: 'invalid_request' },
    });

    // The app tells terminal commands where it listens.
    expect(JSON.parse(readFileSync(join(home, 'serve.json'), 'utf8'))).toMatchObject({ port });

    // Copy Agent Setup: `keygate env` lines for the default agent, pointing at this port.
    await app.click('Copy Agent Setup');
    const copied = await app.waitFor((e) => e.event === 'clipboard', 'the clipboard');
    expect(copied.text).toMatch(
      new RegExp(`^export HTTPS_PROXY='http://default:[^']+@127\\.0\\.0\\.1:${port}'$`, 'm'),
    );
    expect(copied.text).toMatch(/^export NODE_EXTRA_CA_CERTS='.*ca\.pem'$/m);

    // Open Settings…: one sandboxed window on the renderer page, in its own locked-down session.
    await app.click('Open Settings');
    const window = await app.waitFor((e) => e.event === 'window', 'the settings window');
    expect(window.options).toMatchObject({
      show: false,
      webPreferences: {
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        webSecurity: true,
        preload: join(REPO_ROOT, 'dist', 'preload', 'preload.cjs'),
        partition: 'keygate-settings',
      },
    });
    const loaded = await app.waitFor((e) => e.event === 'load-file', 'the page load');
    expect(loaded.file).toBe(join(REPO_ROOT, 'dist', 'renderer', 'index.html'));
    const allowed = async (url: string) =>
      (await app.send({ cmd: 'allowed', partition: 'keygate-settings', url })).value;
    await expect(allowed(SETTINGS_URL)).resolves.toBe(true);
    await expect(allowed('https://api.openai.com/v1/models')).resolves.toBe(false);
    await expect(allowed('file:///etc/passwd')).resolves.toBe(false);

    // Launch at Login.
    await app.click('Launch at Login');
    await app.waitFor((e) => e.event === 'login-item' && e.openAtLogin === true, 'the login item');
    await app.waitForMenu(
      (m) => item(m, 'Launch at Login')?.checked === true,
      'a ticked login item',
    );

    // Proxy Enabled off and on: the listener closes and opens.
    await app.click('Proxy Enabled');
    await app.waitForMenu((m) => statusLines(m)[0] === 'Proxy is off', 'the proxy off');
    await expect(canConnect(port)).resolves.toBe(false);
    expect(existsSync(join(home, 'serve.json'))).toBe(false);
    await app.click('Proxy Enabled');
    await app.waitForMenu(listening, 'the proxy back on');

    // Quit: the engine stops first, then the process exits 0 and the port is free.
    await app.click('Quit Keygate');
    await expect(app.exited).resolves.toBe(0);
    expect(existsSync(join(home, 'serve.json'))).toBe(false);
    expect(app.events.some((e) => e.event === 'error-box')).toBe(false);
    expect(app.stderr.join('')).not.toMatch(/tray icon missing/);
  }, 60_000);

  it('keeps running when the port is taken: says so, notifies, and retries from the menu', async () => {
    const blocker = net.createServer();
    servers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const { app } = start(port);

    const menu = await app.waitForMenu(
      (m) => statusLines(m)[0] === 'Proxy is not running',
      'the not-running menu',
    );
    expect(statusLines(menu)[1]).toMatch(
      new RegExp(`^Last error: port ${port} on 127\\.0\\.0\\.1 is in use`),
    );
    expect(item(menu, 'Proxy Enabled')).toMatchObject({ checked: false, enabled: true });
    const notice = await app.waitFor((e) => e.event === 'notification', 'a notification');
    expect(notice).toMatchObject({ title: 'Keygate cannot listen' });

    // Settings still work without an engine.
    await expect(app.invoke('mappings.list')).resolves.toEqual({ result: [] });
    await expect(app.invoke('proxy.status')).resolves.toMatchObject({ result: { running: false } });

    // Free the port and tick Proxy Enabled: the engine starts.
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await app.click('Proxy Enabled');
    await app.waitForMenu(
      (m) => statusLines(m)[0] === `Listening on 127.0.0.1:${port}`,
      'the proxy listening after the retry',
    );
    await expect(app.invoke('proxy.status')).resolves.toMatchObject({ result: { running: true } });
    await app.send({ cmd: 'quit' });
    await expect(app.exited).resolves.toBe(0);
  }, 60_000);
});

const TOKEN = fakeToken('fake_service_account_token_for_the_app_test');

/** The app with 1Password's SDK replaced by test/fixtures/fake-op-module.mjs. */
function startWithFakeOnePassword(): { app: FakeApp; home: string } {
  const home = mkdtempSync(join(tmpdir(), 'keygate-app-'));
  const state = join(home, '..', `${home.split('/').at(-1)}-op-state.json`);
  dirs.push(state);
  writeFileSync(
    state,
    JSON.stringify({ token: TOKEN, vaults: [{ id: 'v1', title: 'AI' }], items: [] }),
  );
  return start(
    0,
    {
      KEYGATE_OP_CLIENT_MODULE: join(REPO_ROOT, 'test', 'fixtures', 'fake-op-module.mjs'),
      FAKE_OP_STATE: state,
    },
    home,
  );
}

function everythingIn(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => readFileSync(join(entry.parentPath, entry.name)).toString('latin1'))
    .join('\n');
}

describe('the 1Password token in the app', () => {
  it('is paired over IPC and never written in plaintext', async () => {
    const { app, home } = startWithFakeOnePassword();
    await app.waitForMenu(listening, 'a listening menu');
    await expect(app.invoke('token.set', { token: TOKEN })).resolves.toMatchObject({
      result: { vaultCount: 1 },
    });
    await expect(app.invoke('token.status')).resolves.toMatchObject({
      result: { tokenSource: 'file' },
    });
    const disk = everythingIn(home);
    expect(disk).not.toContain(TOKEN);
    expect(disk).not.toContain(Buffer.from(TOKEN).toString('base64'));
    await app.send({ cmd: 'quit' });
    await expect(app.exited).resolves.toBe(0);
  }, 60_000);

  it('is kept by safeStorage (electron-store ciphertext), not in the headless file', async () => {
    const { app, home } = startWithFakeOnePassword();
    await app.waitForMenu(listening, 'a listening menu');
    await app.invoke('token.set', { token: TOKEN });
    await app.send({ cmd: 'quit' });
    await app.exited;
    expect(existsSync(join(home, 'onepassword-token.enc'))).toBe(false);
    const stored = JSON.parse(readFileSync(join(home, 'app-token.json'), 'utf8')) as Record<
      string,
      { version: number; ciphertext: string }
    >;
    expect(stored.onePasswordServiceAccountToken?.version).toBe(1);
  }, 60_000);
});

describe('an unreadable token store in the app (issue 10 §3)', () => {
  it('starts anyway, shows the reason, notifies, and Disconnect (token.clear) removes it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'keygate-app-'));
    writeFileSync(join(home, 'onepassword-token.enc'), 'garbage', { mode: 0o600 });
    const { app } = start(0, {}, home);
    await app.waitForMenu(listening, 'a listening menu, not "Keygate could not start"');
    const status = (await app.invoke('token.status')) as {
      result: { error?: string; accounts: { problem?: string }[] };
    };
    expect(status.result.error).toMatch(/the stored 1Password token could not be read/);
    expect(status.result.accounts).toMatchObject([{ problem: 'token-store' }]);
    const notice = await app.waitFor((e) => e.event === 'notification', 'a notification');
    expect(notice).toMatchObject({ title: 'The 1Password token could not be read' });
    await expect(app.invoke('token.clear')).resolves.toMatchObject({
      result: { tokenSource: 'none', accounts: [] },
    });
    expect(existsSync(join(home, 'onepassword-token.enc'))).toBe(false);
    expect(app.events.some((e) => e.event === 'error-box')).toBe(false);
    await app.send({ cmd: 'quit' });
    await expect(app.exited).resolves.toBe(0);
  }, 60_000);
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('the app as macOS runs it (issue 10 §4)', () => {
  it('keeps Chromium out of the home, and shows Settings when macOS re-activates it', async () => {
    const appData = mkdtempSync(join(tmpdir(), 'keygate-appdata-'));
    dirs.push(appData);
    const { app } = start(0, { FAKE_ELECTRON_APP_DATA: appData });
    const setPath = await app.waitFor((e) => e.event === 'set-path', 'userData moved');
    expect(setPath).toMatchObject({ name: 'userData', path: join(appData, 'Keygate Chromium') });
    await app.waitForMenu(listening, 'a listening menu');
    expect(app.events.some((e) => e.event === 'window')).toBe(false);
    // Finder, Spotlight or `open -a Keygate` while it runs: `activate`, not `second-instance`.
    await app.send({ cmd: 'app-event', name: 'activate' });
    await app.waitFor((e) => e.event === 'window', 'the settings window');
    await app.send({ cmd: 'quit' });
    await expect(app.exited).resolves.toBe(0);
  }, 60_000);

  it('says when macOS waits for the user to allow the login item', async () => {
    const { app } = start(0, { FAKE_ELECTRON_LOGIN_STATUS: 'requires-approval' });
    await app.waitForMenu(listening, 'a listening menu');
    await app.click('Launch at Login');
    const box = await app.waitFor((e) => e.event === 'message-box', 'the approval message');
    expect(JSON.stringify(box.options)).toContain('System Settings › General › Login Items');
    await app.waitForMenu(
      (m) => item(m, 'Launch at Login (allow in System Settings')?.checked === false,
      'the login item marked as waiting for approval',
    );
    await app.send({ cmd: 'quit' });
    await expect(app.exited).resolves.toBe(0);
  }, 60_000);

  it('ignores KEYGATE_OP_CLIENT_MODULE when packaged: the real SDK judges the token', async () => {
    const home = mkdtempSync(join(tmpdir(), 'keygate-app-'));
    const state = join(home, '..', `${home.split('/').at(-1)}-op-state.json`);
    dirs.push(state);
    writeFileSync(state, JSON.stringify({ token: TOKEN, vaults: [], items: [] }));
    const fake = {
      KEYGATE_OP_CLIENT_MODULE: join(REPO_ROOT, 'test', 'fixtures', 'fake-op-module.mjs'),
      FAKE_OP_STATE: state,
    };
    const { app: dev } = start(0, fake, home);
    await dev.waitForMenu(listening, 'a listening menu');
    await expect(dev.invoke('token.set', { token: TOKEN })).resolves.toMatchObject({
      result: { vaultCount: 0 },
    });
    await dev.invoke('token.clear');
    await dev.send({ cmd: 'quit' });
    await dev.exited;

    const { app: packaged } = start(0, { ...fake, FAKE_ELECTRON_PACKAGED: '1' }, home);
    await packaged.waitFor((e) => e.event === 'tray', 'the tray');
    // The fake module would accept this token; the SDK refuses it as malformed.
    const answer = (await packaged.invoke('token.set', { token: TOKEN })) as { error?: unknown };
    expect(answer.error).toBeDefined();
    expect(packaged.stderr.join('')).toContain('ignoring a test-only variable');
    await packaged.send({ cmd: 'quit' });
    await expect(packaged.exited).resolves.toBe(0);
  }, 60_000);

  it("refuses to keep the token under Linux's basic_text key", async () => {
    const home = mkdtempSync(join(tmpdir(), 'keygate-app-'));
    const state = join(home, '..', `${home.split('/').at(-1)}-op-state.json`);
    dirs.push(state);
    writeFileSync(state, JSON.stringify({ token: TOKEN, vaults: [], items: [] }));
    const { app } = start(
      0,
      {
        FAKE_ELECTRON_STORAGE_BACKEND: 'basic_text',
        KEYGATE_OP_CLIENT_MODULE: join(REPO_ROOT, 'test', 'fixtures', 'fake-op-module.mjs'),
        FAKE_OP_STATE: state,
      },
      home,
    );
    await app.waitForMenu(listening, 'a listening menu');
    const answer = (await app.invoke('token.set', { token: TOKEN })) as {
      error?: { message?: string };
    };
    expect(answer.error?.message).toMatch(/no system keyring/);
    await app.send({ cmd: 'quit' });
    await expect(app.exited).resolves.toBe(0);
  }, 60_000);
});

describe('approvals in the menu (issue 13)', () => {
  it('a held request: its line with three answers, the waiting icon, a notification; Deny refuses it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'keygate-app-'));
    for (const args of [
      ['map', 'add', 'api.anthropic.com', 'env://ANTHROPIC_KEY', '--preset', 'anthropic'],
      ['agent', 'add', 'claude', '--ask'],
    ]) {
      const result = keygate(args, { home });
      expect(result.status, result.stderr).toBe(0);
    }
    const { app } = start(0, { ANTHROPIC_KEY: 'sk-ant-app-CANARY-77' }, home);
    await app.waitForMenu(listening, 'a listening menu');
    // The agent, as curl with its own setup: its first request to the mapping is held.
    const env = { PATH: process.env.PATH ?? '', ...agentEnvironment(home, 'claude') };
    const answered = new Promise<string>((resolve) =>
      execFile(
        'curl',
        [
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-X',
          'POST',
          'https://api.anthropic.com/v1/messages',
        ],
        { env },
        (_err, stdout) => resolve(stdout),
      ),
    );
    const line = 'claude wants Anthropic (api.anthropic.com)';
    const menu = await app.waitForMenu((m) => item(m, line) !== undefined, 'the approval line');
    expect(item(menu, line)?.submenu).toEqual(['Allow for 8 hours', 'Always', 'Deny']);
    await app.waitFor(
      (e) => e.event === 'tray-icon' && String(e.icon).endsWith('trayWaitingTemplate.png'),
      'the waiting icon',
    );
    const note = await app.waitFor(
      (e) => e.event === 'notification' && e.title === line,
      'the notification',
    );
    expect(note.body).toBe('Allow or deny it from the Keygate menu.');
    await app.click(line, 'Deny');
    await expect(answered).resolves.toBe('403');
    await app.waitForMenu((m) => item(m, line) === undefined, 'the line gone');
    const icons = app.events.filter((e) => e.event === 'tray-icon');
    expect(String(icons.at(-1)?.icon)).toMatch(/trayTemplate\.png$/);
    expect(app.events.filter((e) => e.event === 'notification')).toEqual([note]);
    await app.click('Quit Keygate');
    await expect(app.exited).resolves.toBe(0);
  }, 60_000);
});
