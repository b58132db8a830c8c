/**
 * CLI contract: `keygate serve`. One stdout line once it listens; exit 0 on SIGTERM and SIGINT
 * after closing its sockets; a default agent on first start; 0700 home and 0600 settings; a port
 * in use is a clear exit 1; bad options are exit 2.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentEnvironment } from '../helpers/agent-env.js';
import { keygate, startServe, tempHome } from '../helpers/keygate-process.js';
import { createTestPki } from '../helpers/test-pki.js';
import { isListening, keygateAll, readSettings, spawnKeygate } from './cli-helpers.js';

const LISTENING = /^keygate listening on http:\/\/127\.0\.0\.1:(\d+)\n$/;

const homes: ReturnType<typeof tempHome>[] = [];
let echo: net.Server;
let echoPort: number;
const echoSockets = new Set<net.Socket>();

beforeAll(async () => {
  // A plain TCP echo server: an unmapped CONNECT target that the proxy tunnels to.
  echo = net.createServer((socket) => {
    echoSockets.add(socket);
    socket.once('close', () => echoSockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as net.AddressInfo).port;
});
afterAll(async () => {
  echoSockets.forEach((socket) => socket.destroy());
  await new Promise<void>((resolve) => echo.close(() => resolve()));
  homes.forEach((home) => home.cleanup());
});

function newRoot(): string {
  const home = tempHome('keygate-cli-serve-');
  homes.push(home);
  return home.home;
}

/** CONNECT through the proxy as NAME:TOKEN; resolves with the socket and the status line. */
function connectThrough(
  proxyPort: number,
  target: string,
  auth: string,
): Promise<{ socket: net.Socket; status: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, '127.0.0.1', () =>
      socket.write(
        `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n` +
          `Proxy-Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n\r\n`,
      ),
    );
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve({ socket, status: head.split('\r\n')[0] ?? '' });
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

describe('keygate serve', () => {
  it('first start: one stdout line, default agent, private home; SIGTERM closes everything and exits 0', async () => {
    // A home that does not exist yet, given after the sub-command.
    const home = join(newRoot(), 'nested', 'home');
    const serve = spawnKeygate(['serve', '--home', home, '--port', '0']);
    const address = await serve.listening();
    const port = Number(new URL(address).port);
    expect(serve.stdout()).toMatch(LISTENING);

    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(statSync(join(home, 'settings.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'ca', 'ca-key.pem')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(home, 'serve.json'), 'utf8'))).toEqual({
      pid: serve.child.pid,
      host: '127.0.0.1',
      port,
      // For `keygate approvals/approve/deny` (test/cli/approvals.test.ts).
      control: {
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/),
        token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      },
    });
    const agents = readSettings(home).agents;
    expect(agents.map((a) => a.name)).toEqual(['default']);
    const token = agents[0]?.token ?? '';
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const [list, second] = await keygateAll(
      [
        ['agent', 'list', '--json'],
        // Same home, same port: refused with a clear message, and the first serve is untouched.
        ['serve', '--port', String(port)],
      ],
      { home },
    );
    expect(JSON.parse(list?.stdout ?? '')).toEqual([
      { name: 'default', createdAt: expect.any(String) },
    ]);
    expect(second?.status).toBe(1);
    expect(second?.stdout).toBe('');
    expect(second?.stderr).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`));
    expect(JSON.parse(readFileSync(join(home, 'serve.json'), 'utf8'))).toMatchObject({
      pid: serve.child.pid,
    });

    // An idle client connection must not keep serve from stopping.
    const idle = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => idle.once('connect', resolve));
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));

    const started = Date.now();
    serve.child.kill('SIGTERM');
    expect(await serve.exited()).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    await idleClosed;
    expect(await isListening(port)).toBe(false);
    expect(existsSync(join(home, 'serve.json'))).toBe(false);
    // Still exactly the one line: nothing else on stdout, ever.
    expect(serve.stdout()).toMatch(LISTENING);
    expect(serve.stderr()).not.toContain(token);
  });

  it('KEYGATE_HOME with a corrupt settings file: kept aside and said so; SIGINT exits 0', async () => {
    const home = newRoot();
    const original = '{ "agents": [ { "name": "default", "token": "trunc';
    writeFileSync(join(home, 'settings.json'), original, { mode: 0o600 });

    const serve = spawnKeygate(
      ['serve', '--port', '0', '--host', '127.0.0.1', '--deny-unmapped', '--log-level', 'error'],
      { KEYGATE_HOME: home },
    );
    const address = await serve.listening();
    const port = Number(new URL(address).port);

    // Said on stderr even with --log-level error; the original bytes are kept.
    expect(serve.stderr()).toMatch(
      /settings\.json was unreadable .*kept it as \S+settings\.json\.corrupt-/,
    );
    expect(serve.stderr()).not.toContain('trunc');
    const aside = readdirSync(home).filter((name) => name.startsWith('settings.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(home, aside[0] ?? ''), 'utf8')).toBe(original);

    // The fresh settings have a new default agent, and --deny-unmapped is in force.
    const token = readSettings(home).agents.find((a) => a.name === 'default')?.token ?? '';
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const denied = await connectThrough(port, `127.0.0.1:${echoPort}`, `default:${token}`);
    expect(denied.status).toMatch(/^HTTP\/1\.1 403/);
    denied.socket.destroy();

    serve.child.kill('SIGINT');
    expect(await serve.exited()).toBe(0);
    expect(await isListening(port)).toBe(false);
    expect(serve.stdout()).toMatch(LISTENING);
  });

  it('bad serve options are exit 2 and it never listens', async () => {
    const home = newRoot();
    const results = await keygateAll(
      [
        ['serve', '--port', '0', '--upstream-ca', join(home, 'missing-ca.pem')],
        ['serve', '--port', '0', '--connect-to', 'api.openai.com:443'],
        ['serve', '--port', '0', '--host', '0.0.0.0'],
        ['serve', '--port', '0', '--secret-ttl', '0'],
        ['serve', '--port', '0', '--secret-ttl', '1.5'],
      ],
      { home },
    );
    expect(results.map((r) => r.status)).toEqual([2, 2, 2, 2, 2]);
    for (const result of results.slice(3))
      expect(result.stderr).toMatch(
        /--secret-ttl .*expected a whole number of seconds from 1 to 3600/,
      );
    // Loopback only (docs/security.md): another machine must not even reach the token check.
    expect(results[2]?.stderr).toMatch(/--host 0\.0\.0\.0: Keygate only listens on loopback/);
    expect(results[0]?.stderr).toMatch(/--upstream-ca \S+missing-ca\.pem: no such file/);
    expect(results[1]?.stderr).toMatch(
      /--connect-to api\.openai\.com:443: expected HOST1:PORT1:HOST2:PORT2/,
    );
    for (const result of results) expect(result.stdout).toBe('');
    // Nothing in the home was created: no settings, no CA, no serve.json.
    expect(readdirSync(home)).toEqual([]);
  });

  // CONNECT sockets leave Node's HTTP bookkeeping; shutdown must still end them.
  it('SIGTERM with an open CONNECT tunnel closes the tunnel and exits 0', async () => {
    const home = newRoot();
    const serve = spawnKeygate(['serve', '--home', home, '--port', '0']);
    const port = Number(new URL(await serve.listening()).port);
    const token = readSettings(home).agents[0]?.token ?? '';
    const tunnel = await connectThrough(port, `127.0.0.1:${echoPort}`, `default:${token}`);
    try {
      expect(tunnel.status).toMatch(/^HTTP\/1\.1 200/);
      tunnel.socket.write('ping');
      await new Promise((resolve) => tunnel.socket.once('data', resolve));
      serve.child.kill('SIGTERM');
      const code = await Promise.race([
        serve.exited(),
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 2_500)),
      ]);
      expect(code).toBe(0);
      expect(tunnel.socket.destroyed || tunnel.socket.readableEnded).toBe(true);
    } finally {
      tunnel.socket.destroy();
      if (serve.child.exitCode === null && serve.child.signalCode === null)
        serve.child.kill('SIGKILL');
      await serve.exited();
    }
  });

  it('--connect-timeout and --idle-timeout bound a silent upstream (curl sees 504 in seconds, not minutes)', async () => {
    const home = newRoot();
    const pki = await createTestPki();
    const leaf = await pki.issue(['hangs.example.com']);
    // Answers TLS, then never answers the request: the idle timeout's case.
    const hanging = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, () => undefined);
    // Accepts TCP and never speaks TLS: the connect timeout's case.
    const mute = net.createServer(() => undefined);
    const sockets = new Set<net.Socket>();
    for (const server of [hanging, mute]) {
      server.on('connection', (socket: net.Socket) => sockets.add(socket));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;
    for (const host of ['hangs.example.com', 'mute.example.com'])
      expect(keygate(['map', 'add', host, 'env://TIMEOUT_KEY'], { home }).status).toBe(0);
    const serve = await startServe(
      home,
      [
        '--upstream-ca',
        pki.caPath,
        '--connect-to',
        `hangs.example.com:443:127.0.0.1:${portOf(hanging)}`,
        '--connect-to',
        `mute.example.com:443:127.0.0.1:${portOf(mute)}`,
        '--connect-timeout',
        '1',
        '--idle-timeout',
        '1',
      ],
      { TIMEOUT_KEY: 'sk-timeout-test' },
    );
    const env = { PATH: process.env.PATH ?? '', ...agentEnvironment(home) };
    const curl = async (url: string) => {
      const started = performance.now();
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          'curl',
          ['-sS', '-o', '/dev/null', '-w', '%{http_code} %header{x-keygate-error}', url],
          { env },
          (err, out) => (err ? reject(err) : resolve(out)),
        ),
      );
      return { stdout, seconds: (performance.now() - started) / 1000 };
    };
    try {
      // The defaults are 600 s and 10 s: answers within a few seconds prove the flags took hold.
      const idle = await curl('https://hangs.example.com/v1/slow');
      expect(idle.stdout).toBe('504 keygate_upstream_timeout');
      expect(idle.seconds).toBeGreaterThanOrEqual(0.9);
      expect(idle.seconds).toBeLessThan(8);
      const connect = await curl('https://mute.example.com/v1/x');
      expect(connect.stdout).toBe('504 keygate_upstream_timeout');
      expect(connect.seconds).toBeGreaterThanOrEqual(0.9);
      expect(connect.seconds).toBeLessThan(8);
    } finally {
      await serve.stop();
      sockets.forEach((socket) => socket.destroy());
      await Promise.all(
        [hanging, mute].map((server) => new Promise((resolve) => server.close(resolve))),
      );
    }
  });

  it('refuses a timeout outside its range (exit 2)', async () => {
    const home = newRoot();
    const results = await keygateAll(
      [
        ['serve', '--connect-timeout', '0'],
        ['serve', '--connect-timeout', '301'],
        ['serve', '--idle-timeout', '2m'],
        ['serve', '--idle-timeout', '86401'],
      ],
      { home },
    );
    expect(results.map((r) => r.status)).toEqual([2, 2, 2, 2]);
    expect(results[0]?.stderr).toMatch(/--connect-timeout .*from 1 to 300/);
    expect(results[2]?.stderr).toMatch(/--idle-timeout .*from 1 to 86400/);
    expect(readdirSync(home)).toEqual([]);
  });
});
