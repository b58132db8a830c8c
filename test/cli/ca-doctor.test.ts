/**
 * CLI contract: `keygate ca path|export` and `keygate doctor` (the listening case is in
 * env-run.test.ts, next to its running serve).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keygate, tempHome } from '../helpers/keygate-process.js';
import { keygateAll } from './cli-helpers.js';

/** A free port below Linux's and macOS's ephemeral ranges (32768+, 49152+), picked at random. */
async function freeFixedPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const candidate = 20000 + Math.floor(Math.random() * 12000);
    const server = net.createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(candidate, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return candidate;
    }
  }
  throw new Error('no free port found in 20000-31999 after 50 tries');
}

let home: ReturnType<typeof tempHome>;
let port: number;

beforeAll(async () => {
  home = tempHome('keygate-cli-ca-');
  // A configured port nothing else uses, so "the port is free" does not depend on the machine.
  // Not a `listen(0)` port: that is an ephemeral port, which the kernel then gives to the next
  // `listen(0)` or outbound socket of a parallel test file, and doctor reads it as "used by
  // something other than Keygate" (seen under load). Ports below the ephemeral range are never
  // handed out that way.
  port = await freeFixedPort();
  writeFileSync(
    join(home.home, 'settings.json'),
    JSON.stringify({
      schemaVersion: 1,
      proxy: { host: '127.0.0.1', port, denyUnmapped: false, enabled: true },
      mappings: [],
      agents: [],
    }),
    { mode: 0o600 },
  );
});
afterAll(() => home.cleanup());

describe('keygate doctor on a fresh home', () => {
  it('is all ok (exit 0): port free, no CA yet, no mappings', () => {
    const result = keygate(['doctor'], { home: home.home });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    const [nodeAgents, ...rest] = result.stdout.split('\n').reverse();
    expect(nodeAgents).toBe('');
    expect(rest.shift()).toMatch(
      /^ok {3}node agents: node v\S+ on PATH (goes through the Keygate preload|honours the proxy itself)\. Node agents: Node >= 22\.21 and 24\+ honour the proxy themselves/,
    );
    expect(rest.reverse()).toEqual([
      `ok   port: port ${port} is free; start Keygate with \`keygate serve\``,
      `ok   ca: no CA yet; it is created at ${join(home.home, 'ca', 'ca.pem')} on first use`,
      'ok   mappings: no mappings yet (keygate map add HOST REF)',
    ]);
  });
});

describe('keygate ca', () => {
  it('path creates the CA on first use and prints where it is', () => {
    const result = keygate(['ca', 'path'], { home: home.home });
    expect(result.status).toBe(0);
    const certPath = join(home.home, 'ca', 'ca.pem');
    expect(result.stdout).toBe(`${certPath}\n`);
    expect(readFileSync(certPath, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(statSync(join(home.home, 'ca')).mode & 0o777).toBe(0o700);
    expect(statSync(join(home.home, 'ca', 'ca-key.pem')).mode & 0o777).toBe(0o600);
  });

  it('export copies exactly ca.pem; an unwritable destination is exit 1', async () => {
    const target = join(home.home, 'exported ca.pem');
    const [ok, missingDir] = await keygateAll(
      [
        ['ca', 'export', target],
        ['ca', 'export', join(home.home, 'no-such-dir', 'ca.pem')],
      ],
      { home: home.home },
    );
    const ca = readFileSync(join(home.home, 'ca', 'ca.pem'));
    expect(ok?.status, ok?.stderr).toBe(0);
    expect(readFileSync(target).equals(ca)).toBe(true);
    expect(ok?.stdout).toMatch(
      /^exported \S+ca\.pem to .*exported ca\.pem \(SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\)\n$/,
    );
    // The key is private: nothing the CLI prints or exports contains it.
    const key = readFileSync(join(home.home, 'ca', 'ca-key.pem'), 'utf8');
    expect(readFileSync(target, 'utf8')).not.toContain('PRIVATE KEY');
    expect(ok?.stdout).not.toContain(key);

    expect(missingDir?.status).toBe(1);
    expect(missingDir?.stderr).toMatch(/^keygate: cannot write \S+no-such-dir\/ca\.pem: ENOENT/);
  });
});

describe('keygate doctor with a mapping', () => {
  beforeAll(() => {
    const added = keygate(['map', 'add', 'api.example.com', 'env://KG_T_DOCTOR'], {
      home: home.home,
    });
    expect(added.status, added.stderr).toBe(0);
  });

  it('fails (exit 1) when the env source is missing, and is ok when it is set', async () => {
    const [missing, present] = await Promise.all([
      keygateAll([['doctor']], { home: home.home, env: { KG_T_DOCTOR: undefined } }),
      keygateAll([['doctor']], { home: home.home, env: { KG_T_DOCTOR: 'doctor-REAL-value' } }),
    ]).then((all) => all.map((results) => results[0]));

    expect(missing?.status).toBe(1);
    expect(missing?.stdout).toMatch(
      /^FAIL mapping api\.example\.com: env:\/\/KG_T_DOCTOR: KG_T_DOCTOR is not set here; keygate serve must be started with it$/m,
    );
    expect(missing?.stdout).toMatch(/^ok {3}port: /m);
    expect(missing?.stdout).toMatch(
      /^ok {3}ca: \S+ca\.pem \(SHA-256 [0-9A-F:]+, valid until \d{4}-/m,
    );

    expect(present?.status, present?.stdout).toBe(0);
    expect(present?.stdout).toMatch(
      /^ok {3}mapping api\.example\.com: env:\/\/KG_T_DOCTOR is set in this environment$/m,
    );
    expect(present?.stdout).not.toContain('doctor-REAL-value');
    expect(present?.stdout).not.toMatch(/^FAIL/m);
  });

  it('fails (exit 1) when something other than Keygate holds the port', async () => {
    const squatter = http.createServer((_req, res) => res.end('not keygate'));
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const [result] = await keygateAll([['doctor']], {
        home: home.home,
        env: { KG_T_DOCTOR: 'doctor-REAL-value' },
      });
      expect(result?.status).toBe(1);
      expect(result?.stdout).toMatch(
        new RegExp(
          `^FAIL port: port ${port} on 127\\.0\\.0\\.1 is used by something other than Keygate$`,
          'm',
        ),
      );
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});

describe('keygate ca trust (engine/trust/, the same checker as the app)', () => {
  it('checks the login keychain on macOS, and says off macOS that there is none', () => {
    const check = keygate(['ca', 'trust', '--check'], { home: home.home });
    if (process.platform === 'darwin') {
      expect(check.stdout).toMatch(/^(trusted|not-trusted|unknown)\n$/);
      return;
    }
    expect(check.stdout).toBe('unsupported\n');
    expect(check.status).toBe(1);
    const trust = keygate(['ca', 'trust'], { home: home.home });
    expect(trust.stderr).toContain('only possible on macOS');
    expect(trust.status).toBe(1);
  });
});
