/**
 * op:// end to end through the engine, with the fake 1Password client (the only mock: it stands
 * in for 1Password's servers) and real TLS clients.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { FakeOnePassword, fakeToken, type FakeItem } from '../helpers/fake-op-client.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { parseAgentError } from '../helpers/agent-error.js';

const OPENAI_CANARY = 'sk-op-CANARY-OPENAI-5e6f7a8b';
const ANTHROPIC_CANARY = 'sk-op-CANARY-ANTHROPIC-1a2b3c4d';
const TOKEN = fakeToken('fake-service-account-token-CANARY-9z');

class ManualClock {
  t = 1_000;
  now(): number {
    return this.t;
  }
}

let pki: TestPki;
let upstream: FakeUpstream;
let onePassword: FakeOnePassword;
let openaiItem: FakeItem;
let fixture: EngineFixture;
const clock = new ManualClock();

async function call(url: string, connections?: number) {
  const dispatcher = new ProxyAgent({
    uri: fixture.proxyUrl(),
    requestTls: { ca: fixture.engine.ca.certPem },
    ...(connections ? { connections } : {}),
  });
  try {
    const response = await request(url, { dispatcher });
    return {
      status: response.statusCode,
      headers: response.headers,
      text: await response.body.text(),
    };
  } finally {
    await dispatcher.close();
  }
}

beforeAll(async () => {
  pki = await createTestPki();
  upstream = await startFakeUpstream({
    hosts: ['api.openai.com', 'api.anthropic.com', 'slow.example.com'],
    pki,
  });
  onePassword = new FakeOnePassword();
  const ai = onePassword.addVault('AI');
  openaiItem = onePassword.addItem(ai, {
    title: 'OpenAI',
    category: 'ApiCredentials',
    websites: ['https://api.openai.com'],
    fields: { credential: OPENAI_CANARY },
  });
  onePassword.addItem(ai, {
    title: 'Anthropic',
    category: 'ApiCredentials',
    websites: ['https://console.anthropic.com'],
    fields: { credential: ANTHROPIC_CANARY },
  });
  fixture = await startEngine({
    secrets: {},
    connectTo: [`:443:127.0.0.1:${upstream.port}`],
    upstreamCaFiles: [pki.caPath],
    logLevel: 'debug',
    extra: {
      opFactory: onePassword.factory,
      env: { OP_SERVICE_ACCOUNT_TOKEN: TOKEN },
      resolver: { clock, timeoutMs: 2_000 },
      // 1,000 TLS handshakes at once on a 2-core machine can take longer than the default 10 s.
      timeouts: { handshakeMs: 120_000 },
    },
  });
});

afterAll(async () => {
  await fixture?.stop();
  await upstream?.close();
});

describe('op:// mappings', () => {
  it('the live check refuses a reference that does not resolve, with 1Password’s reason', async () => {
    await expect(
      fixture.controller.handlers['mappings.upsert']({
        host: 'api.openai.com',
        ref: 'op://AI/Missing/credential',
        preset: 'openai',
      }),
    ).rejects.toThrow(/does not resolve: .*item/i);
    expect(fixture.engine.store.get().mappings).toHaveLength(0);
  });

  it('the live check uses the account the mapping names, not the default one', async () => {
    // The item exists in the default account, so a check made with it would pass.
    await expect(
      fixture.controller.handlers['mappings.upsert']({
        host: 'api.openai.com',
        ref: 'op://AI/OpenAI/credential',
        preset: 'openai',
        account: 'work',
      }),
    ).rejects.toThrow(/does not resolve: no 1Password account named "work" is connected/);
    expect(fixture.engine.store.get().mappings).toHaveLength(0);
  });

  it('1,000 concurrent proxied requests on a cold mapping make exactly one SDK call', async () => {
    // Adding a mapping triggers a prefetch; add it while 1Password is slow, and start the
    // stampede before anything is cached.
    await fixture.controller.handlers['mappings.upsert']({
      host: 'api.anthropic.com',
      ref: 'op://AI/Anthropic/credential',
      preset: 'anthropic',
    });
    fixture.engine.resolver.invalidate();
    const before = onePassword.calls.resolveAll + onePassword.calls.resolve;
    // 1Password answers slowly (under the 2 s timeout set above), so requests pile up cold.
    onePassword.delayMs = 250;
    const dispatcher = new ProxyAgent({
      uri: fixture.proxyUrl(),
      requestTls: { ca: fixture.engine.ca.certPem },
      connections: 1000,
    });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          const response = await request(`https://api.anthropic.com/v1/messages?i=${i}`, {
            dispatcher,
          });
          await response.body.text();
          return response.statusCode;
        }),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);
    } finally {
      onePassword.delayMs = 0;
      await dispatcher.close();
    }
    expect(onePassword.calls.resolveAll + onePassword.calls.resolve - before).toBe(1);
    expect(upstream.received.at(-1)?.headers['x-api-key']).toBe(ANTHROPIC_CANARY);
  });

  it('injects, then after the item is deleted: 502 keygate_secret_unavailable and a stale flag, cleared when it returns', async () => {
    await fixture.controller.handlers['mappings.upsert']({
      host: 'api.openai.com',
      ref: 'op://AI/OpenAI/credential',
      preset: 'openai',
    });
    expect((await call('https://api.openai.com/v1/models')).status).toBe(200);
    expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${OPENAI_CANARY}`);

    onePassword.deleteItem(openaiItem);
    // Still served from the 60 s cache: 1Password is not asked per request.
    clock.t += 59_000;
    expect((await call('https://api.openai.com/v1/cached')).status).toBe(200);
    clock.t += 2_000;
    const gone = await call('https://api.openai.com/v1/models');
    expect(gone.status).toBe(502);
    expect(gone.headers['x-keygate-error']).toBe('keygate_secret_unavailable');
    expect(parseAgentError(gone.text)?.message).toMatch(/api\.openai\.com.*item/i);
    const stale = (await fixture.controller.handlers['mappings.list']()).find(
      (m) => m.host === 'api.openai.com',
    );
    expect(stale?.stale).toMatch(/item/i);

    onePassword.restoreItem(openaiItem);
    clock.t += 31_000; // past the 30 s negative cache
    expect((await call('https://api.openai.com/v1/back')).status).toBe(200);
    const fresh = (await fixture.controller.handlers['mappings.list']()).find(
      (m) => m.host === 'api.openai.com',
    );
    expect(fresh?.stale).toBeUndefined();
  });

  it('a hanging 1Password is cut at the timeout with 502 keygate_secret_unavailable', async () => {
    await fixture.controller.handlers['mappings.upsert']({
      host: 'slow.example.com',
      ref: 'op://AI/OpenAI/credential',
      account: 'default',
    });
    fixture.engine.resolver.invalidate();
    onePassword.hang = true;
    try {
      const started = performance.now();
      const response = await call('https://slow.example.com/v1/x');
      expect(response.status).toBe(502);
      expect(response.headers['x-keygate-error']).toBe('keygate_secret_unavailable');
      expect(parseAgentError(response.text)?.message).toMatch(/did not answer|timed out|within/i);
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      onePassword.hang = false;
      fixture.engine.resolver.invalidate();
    }
  });
});

describe('token and discovery through the contract', () => {
  it('token.status reports the account, vaults and reads this hour, never the token', async () => {
    const status = await fixture.controller.handlers['token.status']();
    expect(status.tokenSource).toBe('env');
    expect(status.vaultCount).toBe(1);
    expect(status.accounts[0]).toMatchObject({
      account: 'default',
      mode: 'service-account',
      connected: true,
      hourlyLimit: 1000,
    });
    expect(status.accounts[0]?.readsThisHour).toBeGreaterThan(0);
    expect(JSON.stringify(status)).not.toContain(TOKEN);
  });

  it('lists vaults, items with field names only, and import suggestions from websites', async () => {
    const vaults = await fixture.controller.handlers['onepassword.vaults']({});
    expect(vaults.map((v) => v.title)).toEqual(['AI']);
    const items = await fixture.controller.handlers['onepassword.items']({
      vaultId: vaults[0]?.id ?? '',
    });
    expect(items.map((i) => i.title).sort()).toEqual(['Anthropic', 'OpenAI']);
    expect(items.find((i) => i.title === 'OpenAI')?.fields).toEqual([
      expect.objectContaining({ title: 'credential', ref: 'op://AI/OpenAI/credential' }),
    ]);
    const suggestions = await fixture.controller.handlers['onepassword.suggestions']({});
    expect(suggestions).toContainEqual(
      expect.objectContaining({
        host: 'api.openai.com',
        ref: 'op://AI/OpenAI/credential',
        preset: 'openai',
      }),
    );
    const text = JSON.stringify({ items, suggestions });
    expect(text).not.toContain(OPENAI_CANARY);
    expect(text).not.toContain(ANTHROPIC_CANARY);
  });
});

describe('canary', () => {
  it('no secret or token value in any file under the home, in logs, or in events', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else files.push(path);
      }
    };
    walk(fixture.home);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const text = readFileSync(file, 'latin1');
      for (const canary of [OPENAI_CANARY, ANTHROPIC_CANARY, TOKEN])
        expect(text, file).not.toContain(canary);
    }
    const logs = fixture.logLines.join('\n');
    const events = JSON.stringify(fixture.engine.activity.recent());
    for (const canary of [OPENAI_CANARY, ANTHROPIC_CANARY, TOKEN]) {
      expect(logs).not.toContain(canary);
      expect(events).not.toContain(canary);
    }
  });
});
