import { afterEach, describe, expect, it } from 'vitest';
import { agentHandlers } from '../../src/engine/agent-handlers.js';
import { InvalidInputError } from '../../src/engine/errors.js';
import { SettingsStore } from '../../src/engine/settings/settings-store.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-agent-handlers-');
const stores: SettingsStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

function harness() {
  const store = SettingsStore.open(tempDir());
  stores.push(store);
  store.update((draft) => {
    draft.mappings.push({ host: 'api.openai.com', ref: 'env://K', injector: { type: 'bearer' } });
  });
  return { handlers: agentHandlers(store), store };
}

describe('agents.add', () => {
  it('saves the agent and answers with its token once; list never shows a token', async () => {
    const { handlers, store } = harness();
    const { agent, token } = await handlers['agents.add']({
      name: 'ci',
      hosts: ['API.OpenAI.com'],
      ask: true,
      maxRequestsPerHour: 100,
    });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(agent).toMatchObject({ name: 'ci', hosts: ['api.openai.com'], ask: true });
    expect(agent.budget).toEqual({ maxRequestsPerHour: 100 });
    expect(store.get().agents.find((a) => a.name === 'ci')?.token).toBe(token);
    const listed = await handlers['agents.list']();
    expect(JSON.stringify(listed)).not.toContain(token);
    expect(listed.map((a) => a.name)).toContain('ci');
  });

  it('refuses a name already taken, a bad name and a budget for an unknown mapping, saving nothing', async () => {
    const { handlers, store } = harness();
    await handlers['agents.add']({ name: 'ci' });
    const before = store.get().agents.length;
    for (const request of [
      { name: 'ci' },
      { name: 'has space' },
      { name: 'ok', maxRequestsPerHour: 5, mapping: 'nowhere.example.com' },
    ]) {
      await expect(handlers['agents.add'](request)).rejects.toBeInstanceOf(InvalidInputError);
    }
    expect(store.get().agents).toHaveLength(before);
  });
});

describe('agents.set', () => {
  it('turns asking on and off, keeping the grants already given', async () => {
    const { handlers, store } = harness();
    await handlers['agents.add']({ name: 'ci' });
    expect((await handlers['agents.set']({ name: 'ci', ask: true })).ask).toBe(true);
    store.update((draft) => {
      const agent = draft.agents.find((a) => a.name === 'ci');
      if (agent) agent.grants = [{ mapping: 'api.openai.com', host: 'api.openai.com', at: 'x' }];
    });
    const off = await handlers['agents.set']({ name: 'ci', ask: false });
    expect(off.ask).toBeUndefined();
    const saved = store.get().agents.find((a) => a.name === 'ci');
    expect(saved?.ask).toBeUndefined();
    expect(saved?.grants).toHaveLength(1);
  });

  it('sets and clears a budget for one mapping', async () => {
    const { handlers } = harness();
    await handlers['agents.add']({ name: 'ci' });
    const set = await handlers['agents.set']({
      name: 'ci',
      maxTokensPerDay: 1000,
      mapping: 'api.openai.com',
    });
    expect(set.budget).toEqual({ mappings: { 'api.openai.com': { maxTokensPerDay: 1000 } } });
    const cleared = await handlers['agents.set']({
      name: 'ci',
      maxTokensPerDay: null,
      mapping: 'api.openai.com',
    });
    expect(cleared.budget).toBeUndefined();
  });

  it('names an agent that does not exist', async () => {
    const { handlers } = harness();
    await expect(handlers['agents.set']({ name: 'ghost', ask: true })).rejects.toThrow(
      'no agent named "ghost" (keygate agent list)',
    );
  });
});

describe('agents.remove', () => {
  it('says whether there was such an agent', async () => {
    const { handlers, store } = harness();
    await handlers['agents.add']({ name: 'ci' });
    expect(await handlers['agents.remove']({ name: 'ci' })).toEqual({ removed: true });
    expect(await handlers['agents.remove']({ name: 'ci' })).toEqual({ removed: false });
    expect(store.get().agents.some((a) => a.name === 'ci')).toBe(false);
  });
});
