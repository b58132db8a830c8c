import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../atomic-write.js';
import { Secret } from '../secret.js';
import { defineError, errnoCode } from '../../errors.js';

/**
 * Where the service-account token lives. Headless: the environment, or an encrypted file in the
 * Keygate home. The app adds an Electron safeStorage store behind this same interface.
 * No method ever returns or logs the token as a string; `describe()` names the place only.
 */
export interface TokenStore {
  get(): Promise<Secret | undefined>;
  set(token: Secret): Promise<void>;
  clear(): Promise<void>;
  /** Where the token is kept, in words (never the token). */
  describe(): string;
}

/** `set`/`clear` on a store Keygate cannot write (the environment). */
export class TokenStoreReadOnlyError extends defineError('TokenStoreReadOnlyError', {
  status: 500,
  code: 'token_store_read_only',
}) {}

/** The encrypted token file or its key was altered, swapped or truncated. */
export class TokenStoreTamperedError extends defineError('TokenStoreTamperedError', {
  status: 500,
  code: 'token_store_tampered',
}) {}

/** The token file could not be read or written (permissions, disk). */
export class TokenStoreIoError extends defineError('TokenStoreIoError', {
  status: 500,
  code: 'token_store_io',
}) {}

export const TOKEN_ENV = 'OP_SERVICE_ACCOUNT_TOKEN';
export const TOKEN_FILE = 'onepassword-token.enc';
export const TOKEN_KEY_FILE = 'onepassword-token.key';

/** `OP_SERVICE_ACCOUNT_TOKEN`, read at call time. Read-only. */
export class EnvTokenStore implements TokenStore {
  readonly #env: NodeJS.ProcessEnv | undefined;
  readonly #name: string;

  constructor(env?: NodeJS.ProcessEnv, name = TOKEN_ENV) {
    this.#env = env;
    this.#name = name;
  }

  get(): Promise<Secret | undefined> {
    const value = (this.#env ?? process.env)[this.#name]?.trim(); // SECRET: never log
    return Promise.resolve(value ? new Secret(value) : undefined);
  }

  set(): Promise<void> {
    return Promise.reject(
      new TokenStoreReadOnlyError(
        `the token comes from the ${this.#name} environment variable, which Keygate cannot change; ` +
          'set the variable in the environment that starts Keygate instead',
      ),
    );
  }

  clear(): Promise<void> {
    return Promise.reject(
      new TokenStoreReadOnlyError(
        `the token comes from the ${this.#name} environment variable; unset it in the environment that starts Keygate`,
      ),
    );
  }

  describe(): string {
    return `environment variable ${this.#name}`;
  }
}

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;
/** Binds the ciphertext to its purpose: the same key can't be reused to decrypt something else. */
const AAD = Buffer.from('keygate onepassword-token v1');
const FILE_MODE = 0o600;
const HOME_MODE = 0o700;

/**
 * The token encrypted with AES-256-GCM in `<home>/onepassword-token.enc`
 * (version byte · 12-byte random IV · 16-byte tag · ciphertext), under a random 32-byte key in
 * `<home>/onepassword-token.key`, outside the settings file. Both files are 0600; a home it
 * creates is 0700 (an existing home keeps its mode, like the settings store).
 *
 * What this protects against: the token showing up in a settings export, a backup of
 * settings.json, a screen share or a grep. It does not resist someone who can read the home as
 * the user: they can read the key too. The app's keychain-backed store is the stronger option.
 *
 * Writes are atomic (temp file opened 0600, fsync, rename), with a fresh IV every time. A file
 * that fails authentication is reported as TokenStoreTamperedError, never silently replaced.
 */
export class FileTokenStore implements TokenStore {
  readonly #home: string;
  readonly tokenPath: string;
  readonly keyPath: string;

  constructor(home: string) {
    this.#home = home;
    this.tokenPath = join(home, TOKEN_FILE);
    this.keyPath = join(home, TOKEN_KEY_FILE);
  }

  async get(): Promise<Secret | undefined> {
    const blob = await readOptional(this.tokenPath);
    if (blob === undefined) return undefined;
    const key = await readOptional(this.keyPath);
    if (key === undefined) {
      throw new TokenStoreTamperedError(
        `${this.tokenPath} exists but its key ${this.keyPath} is missing; run \`keygate token clear\` and set the token again`,
      );
    }
    return new Secret(decrypt(blob, checkedKey(key, this.keyPath), this.tokenPath));
  }

  async set(token: Secret): Promise<void> {
    const value = token.reveal(); // SECRET: never log
    if (value.trim() === '') throw new TypeError('the token is empty');
    await ensureHome(this.#home);
    let key = await readOptional(this.keyPath);
    if (key === undefined || key.length !== KEY_BYTES) {
      // No key yet (or a broken one, whose token could not be read anyway): start afresh.
      key = randomBytes(KEY_BYTES);
      await writeAtomic(this.keyPath, key);
    }
    await writeAtomic(this.tokenPath, encrypt(value, key));
  }

  async clear(): Promise<void> {
    try {
      await fsp.rm(this.tokenPath, { force: true });
      await fsp.rm(this.keyPath, { force: true });
    } catch (err) {
      throw new TokenStoreIoError(`could not remove the stored token: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  describe(): string {
    return `encrypted file ${this.tokenPath}`;
  }
}

/**
 * Several stores in priority order, e.g. `[env, file]`: `get` answers from the first that has a
 * token (the environment wins). `set` writes to the first writable store, `clear` clears every
 * writable one; read-only stores are skipped.
 */
export class TokenStoreChain implements TokenStore {
  readonly #stores: readonly TokenStore[];

  constructor(stores: readonly TokenStore[]) {
    this.#stores = stores;
  }

  async get(): Promise<Secret | undefined> {
    return (await this.lookup())?.token;
  }

  /** The token and the store it came from, e.g. for `keygate token status`. */
  async lookup(): Promise<{ token: Secret; store: TokenStore } | undefined> {
    for (const store of this.#stores) {
      const token = await store.get();
      if (token !== undefined) return { token, store };
    }
    return undefined;
  }

  async set(token: Secret): Promise<void> {
    let readOnly: TokenStoreReadOnlyError | undefined;
    for (const store of this.#stores) {
      try {
        await store.set(token);
        return;
      } catch (err) {
        if (!(err instanceof TokenStoreReadOnlyError)) throw err;
        readOnly ??= err;
      }
    }
    throw readOnly ?? new TokenStoreReadOnlyError('no token store can be written');
  }

  async clear(): Promise<void> {
    for (const store of this.#stores) {
      try {
        await store.clear();
      } catch (err) {
        if (!(err instanceof TokenStoreReadOnlyError)) throw err;
      }
    }
  }

  describe(): string {
    return this.#stores.map((s) => s.describe()).join(', then ');
  }
}

function encrypt(plaintext: string, key: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(AAD);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

function decrypt(blob: Buffer, key: Buffer, path: string): string {
  if (blob.length <= HEADER_BYTES || blob[0] !== VERSION) {
    throw new TokenStoreTamperedError(
      `${path} is not a Keygate token file (wrong version or truncated); run \`keygate token clear\` and set the token again`,
    );
  }
  const iv = blob.subarray(1, 1 + IV_BYTES);
  const tag = blob.subarray(1 + IV_BYTES, HEADER_BYTES);
  const body = blob.subarray(HEADER_BYTES);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(AAD);
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(body), decipher.final()]);
  } catch (err) {
    throw new TokenStoreTamperedError(
      `${path} failed its integrity check (altered, or its key was replaced); run \`keygate token clear\` and set the token again`,
      { cause: err },
    );
  }
  const text = plain.toString('utf8'); // SECRET: never log
  plain.fill(0);
  return text;
}

function checkedKey(key: Buffer, path: string): Buffer {
  if (key.length !== KEY_BYTES) {
    throw new TokenStoreTamperedError(
      `${path} is not a ${KEY_BYTES}-byte key; run \`keygate token clear\` and set the token again`,
    );
  }
  return key;
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new TokenStoreIoError(`could not read ${path}: ${describe(err)}`, { cause: err });
  }
}

async function ensureHome(home: string): Promise<void> {
  try {
    const created = await fsp.mkdir(home, { recursive: true, mode: HOME_MODE });
    // mkdir's mode passes through the umask; chmod makes a new home exactly 0700.
    if (created !== undefined) await fsp.chmod(home, HOME_MODE);
  } catch (err) {
    throw new TokenStoreIoError(`could not create ${home}: ${describe(err)}`, { cause: err });
  }
}

async function writeAtomic(path: string, data: Buffer): Promise<void> {
  try {
    await writeFileAtomic(path, data, FILE_MODE);
  } catch (err) {
    throw new TokenStoreIoError(`could not write ${path}: ${describe(err)}`, { cause: err });
  }
}

function describe(err: unknown): string {
  return errnoCode(err) ?? (err instanceof Error ? err.message : 'unknown error');
}
