import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CaInfo, DoctorCheck } from '../../src/shared/api.js';
import type { Mapping } from '../../src/shared/settings-schema.js';
import { checkPort, runDoctor } from '../../src/engine/doctor.js';
import { homePaths } from '../../src/engine/home.js';
import { createSecretSetup, type SecretSetup } from '../../src/engine/secrets/secret-setup.js';
import { SettingsStore } from '../../src/engine/settings/settings-store.js';
import { loadOrCreateCertificateAuthority } from '../../src/engine/tls/index.js';
import { FakeOnePassword, fakeToken } from '../helpers/fake-op-client.js';
import { closedPort } from '../helpers/hostile-upstream.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-doctor-');
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server on a loopback port answering every request with `status` and `body`. */
async function answering(status: number, body: string): Promise<number> {
  const server = http.createServer((_, res) => res.writeHead(status).end(body));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

interface DoctorRun {
  checks: DoctorCheck[];
}

/** Runs the doctor over a fresh home holding `mappings`, with `env` as the environment. */
async function doctor(
  mappings: Mapping[],
  options: { env?: NodeJS.ProcessEnv; port?: number; ca?: 'none' | 'good' | 'damaged' } = {},
): Promise<DoctorRun> {
  const home = tempDir();
  const paths = homePaths(home);
  const store = SettingsStore.open(home);
  const port = options.port ?? (await closedPort());
  store.update((draft) => {
    draft.mappings = mappings;
    draft.proxy.port = port;
  });
  if (options.ca === 'good') await loadOrCreateCertificateAuthority(paths.caDir);
  if (options.ca === 'damaged') {
    mkdirSync(paths.caDir, { recursive: true });
    writeFileSync(paths.caCert, 'not a certificate');
  }
  const env = options.env ?? {};
  const onePassword = new FakeOnePassword();
  onePassword.addItem(onePassword.addVault('AI'), { title: 'K', fields: { credential: 'v' } });
  let setup: Promise<SecretSetup> | undefined;
  const checks = await runDoctor({
    settings: store.get(),
    paths,
    env,
    setup: () =>
      (setup ??= createSecretSetup({
        home,
        settings: () => store.get(),
        env,
        opFactory: onePassword.factory,
      })),
    caInfo: async (): Promise<CaInfo> => {
      const ca = await loadOrCreateCertificateAuthority(paths.caDir);
      return {
        pem: ca.certPem,
        certPath: paths.caCert,
        bundlePath: paths.caBundle,
        fingerprint256: ca.fingerprint256,
        notAfter: ca.notAfter.toISOString(),
      };
    },
  });
  store.close();
  return { checks };
}

const named = (checks: DoctorCheck[], name: string) => checks.filter((c) => c.name === name);

describe('checkPort', () => {
  it('knows Keygate by its /healthz answer', async () => {
    const port = await answering(200, '{"ok":true,"service":"keygate"}');
    expect(await checkPort('127.0.0.1', port)).toEqual({
      name: 'port',
      ok: true,
      detail: `Keygate is listening on 127.0.0.1:${port}`,
    });
  });

  it('calls a port nothing listens on free, with what to run', async () => {
    const port = await closedPort();
    const check = await checkPort('127.0.0.1', port);
    expect(check).toMatchObject({ ok: true });
    expect(check.detail).toBe(`port ${port} is free; start Keygate with \`keygate serve\``);
  });

  it('names a port held by something else, whatever it answers', async () => {
    for (const port of [await answering(404, 'nope'), await answering(200, '{"ok":true}')]) {
      expect(await checkPort('127.0.0.1', port)).toEqual({
        name: 'port',
        ok: false,
        detail: `port ${port} on 127.0.0.1 is used by something other than Keygate`,
      });
    }
  });
});

describe('runDoctor', () => {
  it('on a fresh home: the port, no CA yet, no mappings, and no 1Password check', async () => {
    const { checks } = await doctor([]);
    expect(checks.map((c) => c.name)).toEqual(['port', 'ca', 'mappings']);
    expect(named(checks, 'ca')[0]?.detail).toMatch(/^no CA yet; it is created at .*ca\.pem/);
    expect(named(checks, 'mappings')[0]).toMatchObject({ ok: true });
  });

  it('shows the CA’s fingerprint, and a damaged CA as a failed check with its reason', async () => {
    const good = named((await doctor([], { ca: 'good' })).checks, 'ca')[0];
    expect(good).toMatchObject({ ok: true });
    expect(good?.detail).toMatch(/ca\.pem \(SHA-256 [0-9A-F:]{95}, valid until \d{4}-/);
    const damaged = named((await doctor([], { ca: 'damaged' })).checks, 'ca')[0];
    expect(damaged?.ok).toBe(false);
    expect(damaged?.detail.length).toBeGreaterThan(0);
  });

  it('looks env:// variables up by name in the given environment, never showing values', async () => {
    const mappings: Mapping[] = [
      { host: 'api.openai.com', ref: 'env://SET_KEY', injector: { type: 'bearer' } },
      { host: 'api.anthropic.com', ref: 'env://UNSET_KEY', injector: { type: 'bearer' } },
    ];
    const { checks } = await doctor(mappings, { env: { SET_KEY: 'sk-live-value' } });
    expect(checks.filter((c) => c.name.startsWith('mapping '))).toEqual([
      {
        name: 'mapping api.openai.com',
        ok: true,
        detail: 'env://SET_KEY is set in this environment',
      },
      {
        name: 'mapping api.anthropic.com',
        ok: false,
        detail: 'env://UNSET_KEY: UNSET_KEY is not set here; keygate serve must be started with it',
      },
    ]);
    expect(JSON.stringify(checks)).not.toContain('sk-live-value');
  });

  it('checks 1Password only when an op:// mapping needs it, and says how it is connected', async () => {
    const mappings: Mapping[] = [
      { host: 'api.openai.com', ref: 'op://AI/K/credential', injector: { type: 'bearer' } },
    ];
    const offline = await doctor(mappings);
    expect(named(offline.checks, '1password')).toEqual([
      {
        name: '1password',
        ok: false,
        detail:
          'op:// mappings exist but no account is connected: `keygate token set` or OP_SERVICE_ACCOUNT_TOKEN',
      },
    ]);
    const token = fakeToken('doctor-token');
    const connected = await doctor(mappings, { env: { OP_SERVICE_ACCOUNT_TOKEN: token } });
    expect(named(connected.checks, '1password')).toEqual([
      {
        name: '1password',
        ok: true,
        detail: 'connected (OP_SERVICE_ACCOUNT_TOKEN), 1 vault(s) visible',
      },
    ]);
    expect(named(connected.checks, 'mapping api.openai.com')).toEqual([
      { name: 'mapping api.openai.com', ok: true, detail: 'op://AI/K/credential is well-formed' },
    ]);
    expect(JSON.stringify(connected.checks)).not.toContain(token);
  });
});
