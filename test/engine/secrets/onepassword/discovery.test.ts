import { describe, expect, it } from 'vitest';
import {
  hostOf,
  importSuggestions,
  listItems,
  listVaults,
} from '../../../../src/engine/secrets/onepassword/discovery.js';
import { validateOpReference } from '../../../../src/engine/secrets/onepassword/reference.js';
import { FakeOnePassword } from '../../../helpers/fake-op-client.js';

const CANARY = 'CANARY-discovery-secret-value';

function world() {
  const op = new FakeOnePassword();
  const work = op.addVault('Work', 'vwork000000000000000000000');
  const odd = op.addVault('Team: APIs', 'vteam000000000000000000000');
  op.addItem(work, {
    id: 'iopenai0000000000000000000',
    title: 'OpenAI',
    category: 'ApiCredentials',
    websites: ['https://api.openai.com/v1', 'https://platform.openai.com'],
    fields: { credential: CANARY, username: 'me' },
  });
  op.addItem(work, {
    id: 'igithub0000000000000000000',
    title: 'GitHub',
    category: 'Login',
    websites: ['github.com', 'ssh://git@github.com', 'androidapp://com.github.android'],
    fields: { username: 'me', password: CANARY },
  });
  op.addItem(work, {
    id: 'inotes00000000000000000000',
    title: 'Notes',
    category: 'SecureNote',
    websites: ['https://notes.example'],
    fields: {},
  });
  op.addItem(work, {
    id: 'inosite0000000000000000000',
    title: 'No website',
    category: 'Login',
    fields: { password: CANARY },
  });
  // Two items with one title: a title reference would be ambiguous (tooManyItems).
  op.addItem(work, {
    id: 'idup100000000000000000000a',
    title: 'Dup',
    category: 'Password',
    websites: ['https://dup-a.example'],
    fields: { password: CANARY },
  });
  op.addItem(work, {
    id: 'idup200000000000000000000b',
    title: 'Dup',
    category: 'Password',
    websites: ['https://dup-b.example'],
    fields: { password: CANARY },
  });
  op.addItem(odd, {
    id: 'iinternal0000000000000000a',
    title: 'Internal (prod)',
    category: 'Login',
    websites: ['http://10.0.0.5:8080/login', 'https://[::1]/', 'HTTPS://Intranet.Example.COM./x'],
    fields: { password: CANARY },
    sections: [{ id: 's1', title: 'API' }],
  });
  return { op, work, odd };
}

describe('discovery', () => {
  it('lists vaults by title', async () => {
    const { op } = world();
    const client = await op.factory({ kind: 'desktop', accountName: 'x' });
    expect(await listVaults(client)).toEqual([
      { id: 'vteam000000000000000000000', title: 'Team: APIs' },
      { id: 'vwork000000000000000000000', title: 'Work' },
    ]);
  });

  it('lists items with field names, never values', async () => {
    const { op, work } = world();
    const client = await op.factory({ kind: 'desktop', accountName: 'x' });
    const items = await listItems(client, work.id);
    expect(items.map((i) => i.title)).toEqual([
      'Dup',
      'Dup',
      'GitHub',
      'No website',
      'Notes',
      'OpenAI',
    ]);
    const openai = items.find((i) => i.title === 'OpenAI');
    expect(openai).toEqual({
      id: 'iopenai0000000000000000000',
      title: 'OpenAI',
      category: 'ApiCredentials',
      vaultId: work.id,
      websites: ['https://api.openai.com/v1', 'https://platform.openai.com'],
      fields: [
        { id: 'credential', title: 'credential', type: 'Concealed' },
        { id: 'username', title: 'username', type: 'Text' },
      ],
    });
    expect(JSON.stringify(items)).not.toContain(CANARY);
    expect(op.calls.resolve + op.calls.resolveAll).toBe(0);
  });

  it('names the section a field sits in', async () => {
    const op = new FakeOnePassword();
    const vault = op.addVault('V');
    op.addItem(vault, {
      title: 'Server',
      category: 'Server',
      fields: [
        { id: 'k', title: 'key', fieldType: 'Concealed', sectionId: 's1', value: CANARY },
        { id: 'u', title: 'user', fieldType: 'Text', value: 'root' },
      ],
      sections: [{ id: 's1', title: 'API' }],
    });
    const [item] = await listItems(
      await op.factory({ kind: 'desktop', accountName: 'x' }),
      vault.id,
    );
    expect(item?.fields).toEqual([
      { id: 'k', title: 'key', type: 'Concealed', section: 'API' },
      { id: 'u', title: 'user', type: 'Text' },
    ]);
  });

  it('suggests mappings from Login / Password / API Credential websites', async () => {
    const { op } = world();
    const client = await op.factory({ kind: 'desktop', accountName: 'x' });
    const suggestions = await importSuggestions(client);
    expect(suggestions.map((s) => [s.host, s.ref])).toEqual([
      ['::1', 'op://vteam000000000000000000000/iinternal0000000000000000a/password'],
      ['10.0.0.5', 'op://vteam000000000000000000000/iinternal0000000000000000a/password'],
      ['api.openai.com', 'op://Work/OpenAI/credential'],
      ['dup-a.example', 'op://Work/idup100000000000000000000a/password'],
      ['dup-b.example', 'op://Work/idup200000000000000000000b/password'],
      ['github.com', 'op://Work/GitHub/password'],
      [
        'intranet.example.com',
        'op://vteam000000000000000000000/iinternal0000000000000000a/password',
      ],
      ['platform.openai.com', 'op://Work/OpenAI/credential'],
    ]);
    expect(suggestions.find((s) => s.host === 'github.com')).toEqual({
      host: 'github.com',
      ref: 'op://Work/GitHub/password',
      vault: { id: 'vwork000000000000000000000', title: 'Work' },
      item: { id: 'igithub0000000000000000000', title: 'GitHub', category: 'Login' },
      field: 'password',
    });
    for (const s of suggestions) expect(validateOpReference(s.ref)).toEqual({ ok: true });
    expect(JSON.stringify(suggestions)).not.toContain(CANARY);
    expect(op.calls.resolve + op.calls.resolveAll + op.calls['items.get']).toBe(0);
  });

  it('every suggested reference resolves in the fake (titles and ids alike)', async () => {
    const { op } = world();
    const client = await op.factory({ kind: 'desktop', accountName: 'x' });
    for (const s of await importSuggestions(client)) {
      expect(op.lookup(s.ref)).toEqual({ secret: CANARY });
    }
  });

  it('honours the signal', async () => {
    const { op } = world();
    op.hang = true;
    const client = await op.factory({ kind: 'desktop', accountName: 'x' });
    await expect(listVaults(client, { signal: AbortSignal.timeout(20) })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('maps SDK failures', async () => {
    const { op } = world();
    op.rateLimited = true;
    const client = await op.factory({ kind: 'desktop', accountName: 'x' });
    await expect(listVaults(client)).rejects.toMatchObject({
      kind: 'transient',
      retryAfterMs: 60_000,
    });
  });
});

describe('hostOf', () => {
  it.each([
    ['https://api.openai.com/v1', 'api.openai.com'],
    ['github.com', 'github.com'],
    ['GitHub.COM/login', 'github.com'],
    ['localhost:8080', 'localhost'],
    ['http://127.0.0.1:3000', '127.0.0.1'],
    ['https://[2001:db8::1]:8443/', '2001:db8::1'],
    ['https://example.com./', 'example.com'],
    ['http://intranet/', 'intranet'],
    ['ssh://git@github.com', undefined],
    ['androidapp://com.example', undefined],
    ['ftp://files.example.com', undefined],
    ['Website', undefined],
    ['', undefined],
    ['http://', undefined],
  ])('%j → %j', (url, host) => {
    expect(hostOf(url)).toBe(host);
  });
});
