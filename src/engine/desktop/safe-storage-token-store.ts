/**
 * The app's home for the 1Password service-account token: encrypted with Electron's safeStorage
 * (on macOS, a key held in the login Keychain under "Keygate Safe Storage", readable only by
 * this signed app), and the ciphertext kept in an electron-store file. The token is never on disk
 * in plaintext, and never leaves this class as a string.
 *
 * Only the async safeStorage API is used: the sync one is deprecated (removed in Electron 46).
 * Both collaborators are injected, so this runs in plain Node under test (a fake cipher, and
 * `conf`, which electron-store is built on); src/main/engine.ts passes the real ones.
 */
import { z } from 'zod';
import { Secret } from '../secrets/secret.js';
import {
  TokenStoreIoError,
  TokenStoreTamperedError,
  type TokenStore,
} from '../secrets/onepassword/token-store.js';
import { defineError } from '../errors.js';

/**
 * The part of Electron's safeStorage this store uses, written out so the engine needs no
 * electron types; src/main/engine.ts passes the real one, which the shell's type-check (against
 * electron.d.ts) proves fits.
 */
export interface AsyncCipher {
  isAsyncEncryptionAvailable(): Promise<boolean>;
  encryptStringAsync(plainText: string): Promise<Buffer>;
  decryptStringAsync(encrypted: Buffer): Promise<{ result: string; shouldReEncrypt: boolean }>;
  /** Linux only: Electron defines it there alone, so elsewhere it is absent. */
  getSelectedStorageBackend?(): string;
}

/** The part of electron-store (or conf) this store uses. */
export interface CiphertextStore {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(key: string): void;
  readonly path: string;
}

/** The record kept in the store: a version and the base64 of safeStorage's ciphertext. */
/** What the store holds: Electron's ciphertext of the token, base64. */
const storedTokenSchema = z.object({ version: z.literal(1), ciphertext: z.string() });
type StoredToken = z.infer<typeof storedTokenSchema>;

export const TOKEN_KEY = 'onePasswordServiceAccountToken';
/** The electron-store file, next to settings.json in the Keygate home: `<home>/app-token.json`. */
export const TOKEN_STORE_NAME = 'app-token';

export class EncryptionUnavailableError extends defineError('EncryptionUnavailableError', {
  status: 500,
  code: 'encryption_unavailable',
}) {}

/**
 * Linux without a Secret Service or KWallet: Chromium's `basic_text` backend encrypts with a key
 * written in its source code, so "encrypted" would mean readable by anyone with the file.
 */
export class InsecureKeyringError extends defineError(
  'InsecureKeyringError',
  { status: 500, code: 'insecure_keyring' },
  EncryptionUnavailableError,
) {}

export class SafeStorageTokenStore implements TokenStore {
  readonly #cipher: AsyncCipher;
  readonly #store: CiphertextStore;

  constructor(cipher: AsyncCipher, store: CiphertextStore) {
    this.#cipher = cipher;
    this.#store = store;
  }

  async get(): Promise<Secret | undefined> {
    const record = this.#read();
    if (record === undefined) return undefined;
    const ciphertext = Buffer.from(record.ciphertext, 'base64');
    await this.#requireEncryption('read the stored 1Password token');
    let decrypted: { result: string; shouldReEncrypt: boolean };
    try {
      decrypted = await this.#cipher.decryptStringAsync(ciphertext);
    } catch (err) {
      // A Keychain key that was deleted or replaced, or a copied file from another Mac.
      throw new TokenStoreTamperedError(
        `the stored 1Password token cannot be decrypted (the "Keygate Safe Storage" Keychain item may have been removed or replaced); disconnect 1Password in Settings and paste the token again`,
        { cause: err },
      );
    }
    const token = new Secret(decrypted.result); // SECRET: never log
    // safeStorage rotated its key: store the token again under the new one.
    if (decrypted.shouldReEncrypt) await this.#write(token);
    return token;
  }

  async set(token: Secret): Promise<void> {
    if (token.reveal().trim() === '') throw new TypeError('the token is empty');
    await this.#write(token);
  }

  async clear(): Promise<void> {
    try {
      this.#store.delete(TOKEN_KEY);
    } catch (err) {
      throw new TokenStoreIoError(`could not remove the stored token from ${this.#store.path}`, {
        cause: err,
      });
    }
  }

  describe(): string {
    return `macOS Keychain-encrypted store ${this.#store.path}`;
  }

  async #write(token: Secret): Promise<void> {
    await this.#requireEncryption('store the 1Password token');
    const ciphertext = await this.#cipher.encryptStringAsync(token.reveal()); // SECRET: never log
    const record: StoredToken = { version: 1, ciphertext: ciphertext.toString('base64') };
    try {
      this.#store.set(TOKEN_KEY, record);
    } catch (err) {
      throw new TokenStoreIoError(`could not write the token store ${this.#store.path}`, {
        cause: err,
      });
    }
  }

  #read(): StoredToken | undefined {
    const value = this.#store.get(TOKEN_KEY);
    if (value === undefined) return undefined;
    const record = storedTokenSchema.safeParse(value);
    if (!record.success) {
      throw new TokenStoreTamperedError(
        `${this.#store.path} does not hold a Keygate token record; disconnect 1Password in Settings and paste the token again`,
      );
    }
    return record.data;
  }

  async #requireEncryption(what: string): Promise<void> {
    // Never fall back to plaintext: without the Keychain there is no safe place for the token.
    if (!(await this.#cipher.isAsyncEncryptionAvailable())) {
      throw new EncryptionUnavailableError(
        `cannot ${what}: the system keychain is not available to Keygate`,
      );
    }
    if (this.#cipher.getSelectedStorageBackend?.() === 'basic_text') {
      throw new InsecureKeyringError(
        `cannot ${what}: no system keyring (GNOME Keyring, KWallet) is running, and Electron's fallback encrypts with a fixed, public key; start a keyring and try again, or use \`keygate serve\` with OP_SERVICE_ACCOUNT_TOKEN`,
      );
    }
  }
}
