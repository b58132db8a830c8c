/**
 * Issue 12 §1: `keygate serve` and the app are one host (engine-supervisor.ts). Both, over a
 * home with a mapping whose reference does not resolve, record the same serve.json (address,
 * the stale mapping, the control endpoint for `keygate approvals`) and report the same problem:
 * serve in its log, the app as a notification. The app runs its compiled main process in Node
 * against the fake electron (test/main/fixtures), as test/main/main-process.test.ts does.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { keygate, REPO_ROOT, startServe } from '../../helpers/keygate-process.js';

const MAIN = join(REPO_ROOT, 'dist', 'main', 'main.js');
const REGISTER = join(REPO_ROOT, 'test', 'main', 'fixtures', 'fake-electron', 'register.mjs');
const UNSET = 'KEYGATE_TWO_HOSTS_NEVER_SET';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function homeWithStaleMapping(): string {
  const home = mkdtempSync(join(tmpdir(), 'keygate-two-hosts-'));
  dirs.push(home);
  const added = keygate(['map', 'add', 'api.example.test', `env://${UNSET}`, '--bearer'], {
    home,
  });
  expect(added.status, added.stderr).toBe(0);
  return home;
}

async function until<T>(read: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function staleRecord(home: string): Record<string, unknown> | undefined {
  const path = join(home, 'serve.json');
  if (!existsSync(path)) return undefined;
  const info = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  return info.stale ? info : undefined;
}

/** What must be the same whoever hosts: everything but the pid and the ports and token. */
function shape(info: Record<string, unknown>) {
  const control = info.control as { url: string; token: string };
  return {
    keys: Object.keys(info).sort(),
    host: info.host,
    stale: info.stale,
    control: {
      url: control.url.replace(/:\d+\/$/, ':PORT/'),
      token: /^[A-Za-z0-9_-]{43}$/.test(control.token),
    },
  };
}

const env = () => {
  const out: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(out))
    if (/^(https?|all|no)_proxy$|^OP_SERVICE_ACCOUNT_TOKEN$/i.test(name)) delete out[name];
  delete out[UNSET];
  return out;
};

describe('serve and the app share one supervisor', () => {
  it('record the same runtime file and report the same problem', async () => {
    const serveHome = homeWithStaleMapping();
    const serve = await startServe(serveHome, [], env());
    const fromServe = await until(() => staleRecord(serveHome), "serve's stale flag");
    const serveProblem = await until(
      () => /A mapping has gone stale/.exec(serve.stderr())?.[0],
      "serve's problem line",
    );
    expect(fromServe.pid).toBe(serve.child.pid);
    await serve.stop();

    const appHome = homeWithStaleMapping();
    const child = spawn(process.execPath, ['--import', pathToFileURL(REGISTER).href, MAIN], {
      cwd: REPO_ROOT,
      env: { ...env(), KEYGATE_HOME: appHome, FAKE_ELECTRON_USER_DATA: appHome },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const notifications: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { event?: string; title?: string };
      if (message.event === 'notification') notifications.push(message.title ?? '');
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const fromApp = await until(() => staleRecord(appHome), "the app's stale flag");
      expect(fromApp.pid).toBe(child.pid);
      expect(shape(fromApp)).toEqual(shape(fromServe));
      expect(fromApp.stale).toEqual({ 'api.example.test': expect.any(String) });
      const appProblem = await until(() => notifications[0], "the app's notification");
      expect(serveProblem).toContain(appProblem);
    } finally {
      child.stdin.write(`${JSON.stringify({ id: 1, cmd: 'quit' })}\n`);
      await exited;
    }
    expect(existsSync(join(appHome, 'serve.json'))).toBe(false);
  }, 60_000);
});
