/**
 * SafeStorageTokenStore with a stand-in for safeStorage (a real AES-GCM cipher with a key held in
 * memory, like the Keychain would hold it) and `conf`, the library electron-store is built on, as
 * the ciphertext file. Proves the token never reaches the disk in plaintext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Conf from 'conf';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../../../src/engine/secrets/secret.js';
import {
  TokenStoreChain,
  TokenStoreTamperedError,
} from '../../../src/engine/secrets/onepassword/token-store.js';
import {
  EncryptionUnavailableError,
  InsecureKeyringError,
  SafeStorageTokenStore,
  TOKEN_KEY,
  TOKEN_STORE_NAME,
  type AsyncCipher,
} from '../../../src/engine/desktop/safe-storage-token-store.js';

const TOKEN = 'ops_eyJzaWduSW5BZGRyZXNzIjoibXkuMXBhc3N3b3JkLmNvbSJ9_TEST_TOKEN';

class FakeSafeStorage implements AsyncCipher {
  key = randomBytes(32);
  available = true;
  rotate = false;
  encryptCalls = 0;
  /** Set to model Linux, where Electron reports its keyring backend. */
  backend: ReturnType<NonNullable<AsyncCipher['getSelectedStorageBackend']>> | undefined;
  getSelectedStorageBackend = () => this.backend ?? 'gnome_libsecret';

  async isAsyncEncryptionAvailable(): Promise<boolean> {
    return this.available;
  }

  async encryptStringAsync(plainText: string): Promise<Buffer> {
    this.encryptCalls++;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plainText, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  async decryptStringAsync(encrypted: Buffer) {
    const decipher = createDecipheriv('aes-256-gcm', this.key, encrypted.subarray(0, 12));
    decipher.setAuthTag(encrypted.subarray(12, 28));
    const result = Buffer.concat([decipher.update(encrypted.subarray(28)), decipher.final()]);
    return { result: result.toString('utf8'), shouldReEncrypt: this.rotate };
  }
}

let home: string;
let cipher: FakeSafeStorage;
let conf: Conf<Record<string, unknown>>;

function open(): SafeStorageTokenStore {
  // What engine-host.ts gives electron-store: the same name, folder and file mode.
  conf = new Conf<Record<string, unknown>>({
    projectName: 'keygate-test',
    configName: TOKEN_STORE_NAME,
    cwd: home,
    configFileMode: 0o600,
  });
  return new SafeStorageTokenStore(cipher, conf);
}

function filesText(): string {
  return readdirSync(home)
    .map((name) => readFileSync(join(home, name), 'utf8'))
    .join('\n');
}

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'keygate-safe-storage-'));
  cipher = new FakeSafeStorage();
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe('SafeStorageTokenStore', () => {
  it('has no token until one is set', async () => {
    await expect(open().get()).resolves.toBeUndefined();
  });

  it('round-trips the token through the cipher, and across a restart', async () => {
    await open().set(new Secret(TOKEN));
    const again = open();
    const token = await again.get();
    expect(token?.reveal()).toBe(TOKEN);
    expect(String(token)).toBe('[secret]');
  });

  it('writes only ciphertext: the token is nowhere on disk, in any encoding', async () => {
    await open().set(new Secret(TOKEN));
    const text = filesText();
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(Buffer.from(TOKEN).toString('base64'));
    expect(text).not.toContain(Buffer.from(TOKEN).toString('hex'));
    const stored = JSON.parse(readFileSync(conf.path, 'utf8')) as Record<string, unknown>;
    expect(stored[TOKEN_KEY]).toMatchObject({ version: 1, ciphertext: expect.any(String) });
  });

  it('keeps the file private (0600) in the home it was given', async () => {
    await open().set(new Secret(TOKEN));
    expect(conf.path).toBe(join(home, `${TOKEN_STORE_NAME}.json`));
    expect(statSync(conf.path).mode & 0o777).toBe(0o600);
  });

  it('clear removes it', async () => {
    const store = open();
    await store.set(new Secret(TOKEN));
    await store.clear();
    await expect(open().get()).resolves.toBeUndefined();
    expect(filesText()).not.toContain('ciphertext');
  });

  it('refuses to store (or read) without encryption, and never falls back to plaintext', async () => {
    const store = open();
    cipher.available = false;
    await expect(store.set(new Secret(TOKEN))).rejects.toBeInstanceOf(EncryptionUnavailableError);
    expect(filesText()).not.toContain(TOKEN);
    cipher.available = true;
    await store.set(new Secret(TOKEN));
    cipher.available = false;
    await expect(store.get()).rejects.toBeInstanceOf(EncryptionUnavailableError);
  });

  it("refuses Linux's basic_text backend (a fixed key) with a message that says what to do", async () => {
    const store = open();
    cipher.backend = 'basic_text';
    const failure = await store.set(new Secret(TOKEN)).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(InsecureKeyringError);
    expect((failure as Error).message).toMatch(/no system keyring.*fixed, public key/);
    expect(filesText()).not.toContain(TOKEN);
    expect(cipher.encryptCalls).toBe(0);
    cipher.backend = 'kwallet5';
    await store.set(new Secret(TOKEN));
    cipher.backend = 'basic_text';
    await expect(store.get()).rejects.toBeInstanceOf(InsecureKeyringError);
  });

  it('reports a token it cannot decrypt (Keychain key replaced) as tampered, without its text', async () => {
    await open().set(new Secret(TOKEN));
    cipher.key = randomBytes(32);
    const failure = await open()
      .get()
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(TokenStoreTamperedError);
    expect(String((failure as Error).message)).not.toContain(TOKEN);
  });

  it('reports a record that is not ours as tampered', async () => {
    const store = open();
    conf.set(TOKEN_KEY, 'plaintext?');
    await expect(store.get()).rejects.toBeInstanceOf(TokenStoreTamperedError);
  });

  it('re-encrypts when safeStorage asks for it (key rotation)', async () => {
    const store = open();
    await store.set(new Secret(TOKEN));
    const before = (conf.get(TOKEN_KEY) as { ciphertext: string }).ciphertext;
    cipher.rotate = true;
    expect((await store.get())?.reveal()).toBe(TOKEN);
    const after = (conf.get(TOKEN_KEY) as { ciphertext: string }).ciphertext;
    expect(after).not.toBe(before);
    expect(cipher.encryptCalls).toBe(2);
  });

  it('refuses an empty token', async () => {
    await expect(open().set(new Secret('  '))).rejects.toThrow(/empty/);
  });

  it('describes where it keeps the token without the token', async () => {
    const store = open();
    await store.set(new Secret(TOKEN));
    expect(store.describe()).toContain(conf.path);
    expect(store.describe()).not.toContain(TOKEN);
  });

  it('works first in a TokenStoreChain: set writes here, get reads from here', async () => {
    const store = open();
    const chain = new TokenStoreChain([store]);
    await chain.set(new Secret(TOKEN));
    expect((await chain.lookup())?.store).toBe(store);
  });
});
