/**
 * A canary token and a canary secret go through the whole 1Password path — token stored under a
 * home, source built from the store, secrets resolved, an item deleted, errors raised — and
 * neither may show up in any file under the home (the token only as ciphertext), nor in any
 * error message, status or explanation.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Secret } from '../../../../src/engine/secrets/secret.js';
import { SecretResolver } from '../../../../src/engine/secrets/secret-resolver.js';
import {
  OnePasswordSecretSource,
  type OpAccountConfig,
} from '../../../../src/engine/secrets/onepassword/onepassword-source.js';
import { pairServiceAccount } from '../../../../src/engine/secrets/onepassword/pairing.js';
import {
  EnvTokenStore,
  FileTokenStore,
  TokenStoreChain,
} from '../../../../src/engine/secrets/onepassword/token-store.js';
import { FakeOnePassword, fakeToken } from '../../../helpers/fake-op-client.js';

// Well-formed as the real SDK requires; its whole text is a needle.
const CANARY_TOKEN = fakeToken('CANARY-token');
const CANARY_SECRET = 'sk-CANARYSECRET-aa11bb22cc33dd44';
const NEEDLES = [
  'CANARY',
  CANARY_TOKEN,
  CANARY_SECRET,
  Buffer.from(CANARY_SECRET).toString('base64'),
];

const home = mkdtempSync(join(tmpdir(), 'keygate-canary-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('canary', () => {
  it('never leaks the token or the secret into files or messages', async () => {
    const texts: string[] = [];
    const op = new FakeOnePassword();
    const vault = op.addVault('Work');
    const item = op.addItem(vault, {
      title: 'OpenAI',
      category: 'ApiCredentials',
      websites: ['https://api.openai.com'],
      fields: { credential: CANARY_SECRET },
    });

    // Pair, then store, as `keygate token set` would.
    const store = new TokenStoreChain([new EnvTokenStore({}), new FileTokenStore(home)]);
    await pairServiceAccount(op.factory, new Secret(CANARY_TOKEN));
    await store.set(new Secret(CANARY_TOKEN));
    texts.push(store.describe());

    // The source reads the token from the store (the app would refresh this on change).
    let accounts: OpAccountConfig[] = [];
    const token = await store.get();
    if (token) accounts = [{ name: 'default', auth: { kind: 'service-account', token } }];
    const source = new OnePasswordSecretSource({ factory: op.factory, accounts: () => accounts });
    const resolver = new SecretResolver({ sources: [source], negativeTtlMs: 0 });

    const secret = await resolver.resolve('op://Work/OpenAI/credential');
    expect(secret.reveal()).toBe(CANARY_SECRET);
    texts.push(String(secret), JSON.stringify({ secret }), inspect(secret), secret.fingerprint());

    resolver.invalidate();
    op.deleteItem(item);
    const gone = await resolver.resolve('op://Work/OpenAI/credential').catch((e: unknown) => e);
    texts.push(
      inspect(gone, { depth: 6 }),
      JSON.stringify(resolver.status('op://Work/OpenAI/credential')),
    );

    resolver.invalidate();
    op.createError = new Error(`bad service account token, please rotate it: ${CANARY_TOKEN}`);
    source.pool.clear();
    const refused = await resolver.resolve('op://Work/OpenAI/credential').catch((e: unknown) => e);
    texts.push(inspect(refused, { depth: 6 }));
    texts.push(JSON.stringify(source.status()), source.explain(), inspect(source, { depth: 6 }));

    for (const text of texts) {
      for (const needle of NEEDLES) expect(text, text).not.toContain(needle);
    }

    const files = readdirSync(home, { recursive: true, withFileTypes: true }).filter((e) =>
      e.isFile(),
    );
    expect(files.map((f) => f.name).sort()).toEqual([
      'onepassword-token.enc',
      'onepassword-token.key',
    ]);
    for (const file of files) {
      const bytes = readFileSync(join(file.parentPath, file.name));
      for (const needle of NEEDLES) {
        expect(bytes.includes(Buffer.from(needle)), `${file.name} holds ${needle}`).toBe(false);
      }
    }
  });
});
