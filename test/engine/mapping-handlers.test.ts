import { afterEach, describe, expect, it } from 'vitest';
import { mappingHandlers, type MappingHandlers } from '../../src/engine/mapping-handlers.js';
import { writeRuntimeInfo } from '../../src/engine/runtime-file.js';
import { createSecretSetup, type SecretSetup } from '../../src/engine/secrets/secret-setup.js';
import { SettingsStore } from '../../src/engine/settings/settings-store.js';
import { FakeOnePassword, fakeToken } from '../helpers/fake-op-client.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-mapping-handlers-');
const stores: SettingsStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

const SECRET = 'sk-mapping-handlers-0123456789';

interface Harness {
  handlers: MappingHandlers;
  store: SettingsStore;
  home: string;
  onePassword: FakeOnePassword;
  setup: Promise<SecretSetup>;
}

/** The handlers over a fresh home, 1Password (fake network) connected, env:// from `env`. */
function harness(options: { engineHere?: boolean; connected?: boolean } = {}): Harness {
  const home = tempDir();
  const store = SettingsStore.open(home);
  stores.push(store);
  const onePassword = new FakeOnePassword();
  onePassword.addItem(onePassword.addVault('AI'), {
    title: 'OpenAI',
    fields: { credential: SECRET },
  });
  const env: NodeJS.ProcessEnv = { OPENAI_KEY: SECRET };
  if (options.connected !== false) env.OP_SERVICE_ACCOUNT_TOKEN = fakeToken('mapping-handlers');
  const setup = createSecretSetup({
    home,
    settings: () => store.get(),
    env,
    opFactory: onePassword.factory,
  });
  const handlers = mappingHandlers({
    store,
    home,
    setup: () => setup,
    engineHere: options.engineHere ?? true,
  });
  return { handlers, store, home, onePassword, setup };
}

describe('mappings.upsert', () => {
  it('saves a mapping and answers with its name and explanation', async () => {
    const { handlers, store } = harness();
    const view = await handlers['mappings.upsert']({
      host: 'api.openai.com',
      ref: 'env://OPENAI_KEY',
    });
    expect(view).toMatchObject({ name: 'api.openai.com', host: 'api.openai.com' });
    expect(view.explain.length).toBeGreaterThan(0);
    expect(store.get().mappings.map((m) => m.ref)).toEqual(['env://OPENAI_KEY']);
  });

  it('replaces the mapping in the same host, port and path slot; another path is a new one', async () => {
    const { handlers, store } = harness();
    await handlers['mappings.upsert']({ host: 'api.openai.com', ref: 'env://A' });
    await handlers['mappings.upsert']({ host: 'api.openai.com', ref: 'env://B' });
    await handlers['mappings.upsert']({ host: 'api.openai.com', ref: 'env://C', path: '/v1/**' });
    expect(store.get().mappings.map((m) => [m.ref, m.path])).toEqual([
      ['env://B', undefined],
      ['env://C', '/v1/**'],
    ]);
  });

  it('refuses an op:// reference 1Password says does not exist, and saves nothing', async () => {
    const { handlers, store } = harness();
    await expect(
      handlers['mappings.upsert']({ host: 'api.openai.com', ref: 'op://AI/Missing/credential' }),
    ).rejects.toThrow(/^op:\/\/AI\/Missing\/credential does not resolve: /);
    expect(store.get().mappings).toEqual([]);
  });

  it('saves an op:// mapping when 1Password cannot be asked (rate-limited, or no account)', async () => {
    const limited = harness();
    limited.onePassword.rateLimited = true;
    await limited.handlers['mappings.upsert']({
      host: 'a.example.com',
      ref: 'op://AI/X/credential',
    });
    expect(limited.store.get().mappings).toHaveLength(1);
    const offline = harness({ connected: false });
    await offline.handlers['mappings.upsert']({
      host: 'a.example.com',
      ref: 'op://AI/X/credential',
    });
    expect(offline.store.get().mappings).toHaveLength(1);
    expect(offline.onePassword.sdkCalls).toBe(0);
  });
});

describe('mappings.remove', () => {
  it('removes every mapping of a host, or only the one with the given path', async () => {
    const { handlers, store } = harness();
    await handlers['mappings.upsert']({ host: 'api.openai.com', ref: 'env://A' });
    await handlers['mappings.upsert']({ host: 'api.openai.com', ref: 'env://B', path: '/v1/**' });
    await handlers['mappings.upsert']({ host: 'api.anthropic.com', ref: 'env://C' });
    expect(await handlers['mappings.remove']({ host: 'API.OpenAI.com', path: '/v1/**' })).toEqual({
      removed: 1,
    });
    expect(await handlers['mappings.remove']({ host: 'api.openai.com' })).toEqual({ removed: 1 });
    expect(await handlers['mappings.remove']({ host: 'nothing.example.com' })).toEqual({
      removed: 0,
    });
    expect(store.get().mappings.map((m) => m.host)).toEqual(['api.anthropic.com']);
  });
});

describe('mappings.test', () => {
  it('resolves each mapping of the host: a fingerprint and length, or the reason, never the value', async () => {
    const { handlers } = harness();
    await handlers['mappings.upsert']({ host: 'api.openai.com', ref: 'env://OPENAI_KEY' });
    await handlers['mappings.upsert']({ host: 'api.openai.com', ref: 'env://GONE', path: '/x' });
    const results = await handlers['mappings.test']({ host: 'api.openai.com' });
    expect(results).toEqual([
      { name: 'api.openai.com', ok: true, fingerprint: expect.any(String), length: SECRET.length },
      { name: 'api.openai.com/x', ok: false, reason: expect.stringContaining('GONE') },
    ]);
    expect(JSON.stringify(results)).not.toContain(SECRET);
  });

  it('names a host with no mapping', async () => {
    const { handlers } = harness();
    await expect(handlers['mappings.test']({ host: 'api.openai.com' })).rejects.toThrow(
      'no mapping for api.openai.com (keygate map list)',
    );
  });
});

describe('mappings.list', () => {
  it('flags a mapping whose reference stopped resolving, not one whose 1Password is down', async () => {
    const { handlers, onePassword, setup } = harness();
    const other = onePassword.addItem(onePassword.vaults[0]!, {
      title: 'Other',
      fields: { credential: 'x' },
    });
    await handlers['mappings.upsert']({ host: 'a.example.com', ref: 'op://AI/OpenAI/credential' });
    await handlers['mappings.upsert']({ host: 'b.example.com', ref: 'op://AI/Other/credential' });
    onePassword.deleteItem(other);
    const { resolver } = await setup;
    await resolver.resolve('op://AI/OpenAI/credential');
    await expect(resolver.resolve('op://AI/Other/credential')).rejects.toThrow();
    const listed = await handlers['mappings.list']();
    expect(listed.map((m) => [m.name, m.stale !== undefined])).toEqual([
      ['a.example.com', false],
      ['b.example.com', true],
    ]);
    // 1Password going down afterwards does not make a resolving reference stale.
    onePassword.rateLimited = true;
    resolver.invalidate('op://AI/OpenAI/credential');
    await expect(resolver.resolve('op://AI/OpenAI/credential')).rejects.toThrow();
    expect((await handlers['mappings.list']())[0]?.stale).toBeUndefined();
  });

  it('without an engine here, shows the stale flags the running serve recorded', async () => {
    const { handlers, home } = harness({ engineHere: false });
    await handlers['mappings.upsert']({ host: 'api.openai.com', ref: 'env://OPENAI_KEY' });
    writeRuntimeInfo(home, {
      pid: process.pid,
      host: '127.0.0.1',
      port: 18080,
      stale: { 'api.openai.com': 'the item was deleted' },
    });
    expect((await handlers['mappings.list']())[0]?.stale).toBe('the item was deleted');
  });
});
