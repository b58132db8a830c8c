/**
 * Runs the real compiled main process (dist/main/main.js) in plain Node, with `electron` resolved
 * to a fake that reports what the app does and lets the test click menu items and call IPC
 * channels (fixtures/fake-electron). The engine, controller, settings and token store are real,
 * over a temporary home. What this cannot show is Electron's own behaviour; what it does show is
 * that the main process starts, wires every piece, serves the contract over IPC to the settings
 * page only, follows the menu, survives a port in use, and quits cleanly.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SettingsStore } from '../../src/engine/settings/settings-store.js';
import { API_OPERATIONS } from '../../src/shared/api.js';
import { REPO_ROOT } from '../helpers/keygate-process.js';
import { fakeToken } from '../helpers/fake-op-client.js';

const MAIN = join(REPO_ROOT, 'dist', 'main', 'main.js');
const REGISTER = join(REPO_ROOT, 'test', 'main', 'fixtures', 'fake-electron', 'register.mjs');
const SETTINGS_URL = pathToFileURL(join(REPO_ROOT, 'dist', 'renderer', 'index.html')).href;

interface MenuItem {
  label?: string;
  type?: string;
  checked?: boolean;
  enabled?: boolean;
}
type Event = { event: string; [key: string]: unknown };

class FakeApp {
  readonly events: Event[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  #waiters: Array<{ test: (e: Event) => boolean; resolve: (e: Event) => void }> = [];
  #answers = new Map<number, (answer: Record<string, unknown>) => void>();
  #nextId = 1;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as Record<string, unknown>;
      if (typeof message.id === 'number') {
        this.#answers.get(message.id)?.(message);
        return;
      }
      const event = message as Event;
      this.events.push(event);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.test(event)) return true;
        w.resolve(event);
        return false;
      });
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => this.stderr.push(chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** The first event (past or future) that passes `test`. */
  waitFor(test: (e: Event) => boolean, what: string, timeoutMs = 20_000): Promise<Event> {
    const past = this.events.find(test);
    if (past) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; stderr:\n${this.stderr.join('')}`)),
        timeoutMs,
      );
      this.#waiters.push({
        test,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  /** The latest menu if it satisfies `test`, or the next one that does (menus are rebuilt). */
  async waitForMenu(test: (items: MenuItem[]) => boolean, what: string): Promise<MenuItem[]> {
    const last = [...this.events].reverse().find((e) => e.event === 'menu');
    if (last && test(last.items as MenuItem[])) return last.items as MenuItem[];
    const seen = this.events.length;
    const event = await this.waitFor(
      (e) => e.event === 'menu' && this.events.indexOf(e) >= seen && test(e.items as MenuItem[]),
      what,
    );
    return event.items as MenuItem[];
  }

  send(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#answers.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  async invoke(op: string, request: unknown = {}, url = SETTINGS_URL): Promise<unknown> {
    const answer = await this.send({ cmd: 'invoke', channel: `keygate:${op}`, request, url });
    if (answer.error) throw new Error(String(answer.error));
    return answer.value;
  }

  async click(label: string): Promise<void> {
    const answer = await this.send({ cmd: 'click', label });
    if (answer.error) throw new Error(String(answer.error));
  }
}

const apps: FakeApp[] = [];
const dirs: string[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) {
    if (app.child.exitCode === null) app.child.kill('SIGKILL');
  }
  for (const server of servers.splice(0)) server.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function start(
  port: number,
  extraEnv: NodeJS.ProcessEnv = {},
  home = mkdtempSync(join(tmpdir(), 'keygate-app-')),
): { app: FakeApp; home: string } {
  dirs.push(home);
  const store = SettingsStore.open(home);
  store.update((draft) => {
    draft.proxy.port = port;
  });
  store.close();
  const env: NodeJS.ProcessEnv = { ...process.env, KEYGATE_HOME: home, SHELL: '/bin/zsh' };
  for (const name of Object.keys(env)) {
    if (/^(https?|all|no)_proxy$|^OP_SERVICE_ACCOUNT_TOKEN$/i.test(name)) delete env[name];
  }
  env.FAKE_ELECTRON_USER_DATA = home;
  Object.assign(env, extraEnv);
  const child = spawn(process.execPath, ['--import', pathToFileURL(REGISTER).href, MAIN], {
    cwd: REPO_ROOT,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const app = new FakeApp(child);
  apps.push(app);
  return { app, home };
}

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
        message: 'proxy.status is only available to Keygate Settings',
      },
    });
    await expect(app.invoke('agents.remove', 'not an object')).resolves.toMatchObject({
      error: { name: 'InvalidIpcRequestError' },
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
