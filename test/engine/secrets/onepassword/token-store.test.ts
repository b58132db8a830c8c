import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Secret } from '../../../../src/engine/secrets/secret.js';
import {
  EnvTokenStore,
  FileTokenStore,
  TOKEN_ENV,
  TokenStoreChain,
  TokenStoreReadOnlyError,
  TokenStoreTamperedError,
} from '../../../../src/engine/secrets/onepassword/token-store.js';

const CANARY_TOKEN = 'ops_CANARYeyJzaWduSW5BZGRyZXNzIjoibXkuMXBhc3N3b3JkLmNvbSJ9tokenTAIL';
const posix = process.platform !== 'win32';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-token-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Every byte of every file under `dir`, with its path. */
function allFiles(dir: string): Array<{ path: string; bytes: Buffer }> {
  const out: Array<{ path: string; bytes: Buffer }> = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.push({ path, bytes: readFileSync(path) });
  }
  return out;
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe('FileTokenStore', () => {
  it('round-trips the token', async () => {
    const home = join(tempDir(), 'home');
    const store = new FileTokenStore(home);
    expect(await store.get()).toBeUndefined();
    await store.set(new Secret(CANARY_TOKEN));
    expect((await store.get())?.reveal()).toBe(CANARY_TOKEN);
    // A second instance (a new process) reads it too.
    expect((await new FileTokenStore(home).get())?.reveal()).toBe(CANARY_TOKEN);
    await store.set(new Secret('ops_second'));
    expect((await store.get())?.reveal()).toBe('ops_second');
  });

  it.skipIf(!posix)('writes 0600 files in a 0700 home', async () => {
    const home = join(tempDir(), 'new-home');
    const store = new FileTokenStore(home);
    await store.set(new Secret(CANARY_TOKEN));
    expect(mode(home)).toBe(0o700);
    expect(mode(store.tokenPath)).toBe(0o600);
    expect(mode(store.keyPath)).toBe(0o600);
    expect(readdirSync(home).sort()).toEqual(['onepassword-token.enc', 'onepassword-token.key']);
  });

  it('stores ciphertext only, with a fresh IV every write', async () => {
    const home = tempDir();
    const store = new FileTokenStore(home);
    await store.set(new Secret(CANARY_TOKEN));
    const first = readFileSync(store.tokenPath);
    await store.set(new Secret(CANARY_TOKEN));
    const second = readFileSync(store.tokenPath);
    expect(first.equals(second)).toBe(false);
    expect(readFileSync(store.keyPath)).toHaveLength(32);
    for (const { path, bytes } of allFiles(home)) {
      for (const needle of [CANARY_TOKEN, 'CANARY', Buffer.from(CANARY_TOKEN).toString('base64')]) {
        expect(bytes.includes(Buffer.from(needle)), `${path} contains ${needle}`).toBe(false);
      }
    }
  });

  it('reports a tampered token file with a named error that does not echo the token', async () => {
    const home = tempDir();
    const store = new FileTokenStore(home);
    await store.set(new Secret(CANARY_TOKEN));
    const blob = readFileSync(store.tokenPath);
    blob[blob.length - 1] = (blob[blob.length - 1] ?? 0) ^ 0x01;
    writeFileSync(store.tokenPath, blob);
    const error = await store.get().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TokenStoreTamperedError);
    expect((error as Error).name).toBe('TokenStoreTamperedError');
    expect((error as Error).message).toMatch(/failed its integrity check.*keygate token clear/);
    expect((error as Error).message).not.toContain('CANARY');
  });

  it.each([
    ['a replaced key', (s: FileTokenStore) => writeFileSync(s.keyPath, Buffer.alloc(32, 7))],
    ['a short key', (s: FileTokenStore) => writeFileSync(s.keyPath, Buffer.alloc(5))],
    ['a missing key', (s: FileTokenStore) => rmSync(s.keyPath)],
    ['a truncated file', (s: FileTokenStore) => writeFileSync(s.tokenPath, Buffer.from([1, 2, 3]))],
    [
      'a wrong version',
      (s: FileTokenStore) => {
        const blob = readFileSync(s.tokenPath);
        blob[0] = 9;
        writeFileSync(s.tokenPath, blob);
      },
    ],
  ])('reports %s as tampered', async (_label, damage) => {
    const store = new FileTokenStore(tempDir());
    await store.set(new Secret(CANARY_TOKEN));
    damage(store);
    await expect(store.get()).rejects.toBeInstanceOf(TokenStoreTamperedError);
  });

  it('recovers from a broken key by writing a new one on set', async () => {
    const store = new FileTokenStore(tempDir());
    await store.set(new Secret(CANARY_TOKEN));
    writeFileSync(store.keyPath, Buffer.alloc(3));
    await store.set(new Secret('ops_new'));
    expect((await store.get())?.reveal()).toBe('ops_new');
  });

  it('clear removes both files', async () => {
    const home = tempDir();
    const store = new FileTokenStore(home);
    await store.set(new Secret(CANARY_TOKEN));
    await store.clear();
    expect(readdirSync(home)).toEqual([]);
    expect(await store.get()).toBeUndefined();
    await store.clear(); // idempotent
  });

  it('refuses an empty token', async () => {
    await expect(new FileTokenStore(tempDir()).set(new Secret(' '))).rejects.toThrow(/empty/);
  });

  it('describes itself by path', () => {
    expect(new FileTokenStore('/h').describe()).toBe('encrypted file /h/onepassword-token.enc');
  });
});

describe('EnvTokenStore', () => {
  it(`reads ${TOKEN_ENV} and is read-only`, async () => {
    const store = new EnvTokenStore({ [TOKEN_ENV]: ` ${CANARY_TOKEN}\n` });
    expect((await store.get())?.reveal()).toBe(CANARY_TOKEN);
    expect(await new EnvTokenStore({}).get()).toBeUndefined();
    expect(await new EnvTokenStore({ [TOKEN_ENV]: '' }).get()).toBeUndefined();
    const set = await store.set().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(set).toBeInstanceOf(TokenStoreReadOnlyError);
    expect((set as Error).message).toMatch(/OP_SERVICE_ACCOUNT_TOKEN environment variable/);
    expect((set as Error).message).not.toContain('CANARY');
    await expect(store.clear()).rejects.toBeInstanceOf(TokenStoreReadOnlyError);
    expect(store.describe()).toBe('environment variable OP_SERVICE_ACCOUNT_TOKEN');
  });
});

describe('TokenStoreChain', () => {
  it('the environment wins over the file; set writes the file; clear clears the file', async () => {
    const home = tempDir();
    const env: NodeJS.ProcessEnv = {};
    const file = new FileTokenStore(home);
    const envStore = new EnvTokenStore(env);
    const chain = new TokenStoreChain([envStore, file]);

    expect(await chain.get()).toBeUndefined();
    await chain.set(new Secret('ops_from_file'));
    expect((await chain.get())?.reveal()).toBe('ops_from_file');
    expect((await chain.lookup())?.store).toBe(file);

    env[TOKEN_ENV] = 'ops_from_env';
    expect((await chain.get())?.reveal()).toBe('ops_from_env');
    expect((await chain.lookup())?.store).toBe(envStore);

    await chain.clear();
    expect(readdirSync(home)).toEqual([]);
    expect((await chain.get())?.reveal()).toBe('ops_from_env'); // the env is not Keygate's to clear
    delete env[TOKEN_ENV];
    expect(await chain.get()).toBeUndefined();
    expect(chain.describe()).toBe(
      `environment variable OP_SERVICE_ACCOUNT_TOKEN, then encrypted file ${file.tokenPath}`,
    );
  });

  it('set fails with the read-only error when nothing is writable', async () => {
    await expect(
      new TokenStoreChain([new EnvTokenStore({})]).set(new Secret('x')),
    ).rejects.toBeInstanceOf(TokenStoreReadOnlyError);
  });
});
