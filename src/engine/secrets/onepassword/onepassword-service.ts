/**
 * 1Password, assembled for the engine and the controller: which accounts exist (a service-account
 * token from the environment or `keygate token set`, and/or the desktop app), the `op://` source
 * over them, pairing, and discovery for the UI. The SDK itself stays unloaded until something
 * actually needs it (measured: ~160 ms and ~40 MB of RSS to load).
 */
import type {
  ImportSuggestionView,
  OnePasswordAccountStatus,
  ItemView,
  TokenStatus,
  VaultView,
} from '../../../shared/api.js';
import type { OnePasswordSettings } from '../../../shared/settings-schema.js';
import { PRESETS } from '../../../shared/presets.js';
import type { Secret } from '../secret.js';
import { fieldReference, importSuggestions, listItems, listVaults } from './discovery.js';
import type { OpClientFactory } from './op-client.js';
import { OnePasswordSecretSource, type OpAccountConfig } from './onepassword-source.js';
import { pairDesktopAccount, pairServiceAccount } from './pairing.js';
import {
  EnvTokenStore,
  FileTokenStore,
  TokenStoreChain,
  TokenStoreTamperedError,
  type TokenStore,
} from './token-store.js';

/** The service-account account's name, as mappings' `account` field spells it. */
export const SERVICE_ACCOUNT = 'default';
const DISCOVERY_TIMEOUT_MS = 20_000;

export interface OnePasswordServiceOptions {
  readonly home: string;
  readonly factory: OpClientFactory;
  readonly settings: () => OnePasswordSettings;
  /** Which account a reference belongs to (from mappings). */
  readonly accountFor?: (ref: string) => string | undefined;
  /** Token stores, read in order; default: OP_SERVICE_ACCOUNT_TOKEN, then `tokenStore`. */
  readonly tokens?: TokenStore;
  /** Where `token set` keeps the token: the app passes safeStorage; default the encrypted file. */
  readonly tokenStore?: TokenStore;
  readonly env?: NodeJS.ProcessEnv;
}

export class OnePasswordService {
  readonly source: OnePasswordSecretSource;
  readonly #options: OnePasswordServiceOptions;
  readonly #env: EnvTokenStore;
  readonly #tokens: TokenStore;
  // SECRET: never log. The service-account token, kept in memory once read.
  #token: Secret | undefined;
  #tokenSource: TokenStatus['tokenSource'] = 'none';
  /** Why the stored token could not be read (garbage file, Keychain item reset, access denied). */
  #tokenStoreError: string | undefined;

  constructor(options: OnePasswordServiceOptions) {
    this.#options = options;
    this.#env = new EnvTokenStore(options.env);
    this.#tokens =
      options.tokens ??
      new TokenStoreChain([this.#env, options.tokenStore ?? new FileTokenStore(options.home)]);
    this.source = new OnePasswordSecretSource({
      factory: options.factory,
      accounts: () => this.accounts(),
      ...(options.accountFor ? { accountFor: options.accountFor } : {}),
      limits: { defaultHourlyLimit: options.settings().hourlyLimit ?? 1000 },
      extraStatus: () => this.#tokenStoreStatus(),
    });
  }

  /**
   * Re-reads the token (at start, and whenever settings say it changed). A store that cannot be
   * read (garbage in onepassword-token.enc; on a Mac, a reset Keychain item or a denied prompt)
   * never stops Keygate: 1Password is then unavailable, with the reason in status, doctor and
   * the app, while env:// mappings keep working and `token set`/`token clear` repair it.
   */
  async reloadToken(): Promise<void> {
    try {
      const found =
        this.#tokens instanceof TokenStoreChain ? await this.#tokens.lookup() : undefined;
      const token =
        found?.token ??
        (this.#tokens instanceof TokenStoreChain ? undefined : await this.#tokens.get());
      this.#token = token;
      this.#tokenSource =
        token === undefined ? 'none' : found?.store === this.#env ? 'env' : 'file';
      this.#tokenStoreError = undefined;
    } catch (err) {
      this.#token = undefined;
      this.#tokenSource = 'none';
      const why = err instanceof Error ? err.message : String(err);
      // A tampered store names its own remedy (the CLI's or the app's words); anything else
      // (a permission, a disk error) gets the CLI's, so the remedy is said exactly once.
      this.#tokenStoreError =
        err instanceof TokenStoreTamperedError
          ? `the stored 1Password token could not be read (${why})`
          : `the stored 1Password token could not be read (${why}); ` +
            'run `keygate token set` to store it again, or `keygate token clear`';
    }
  }

  /** Why the stored token could not be read, if it could not. */
  get tokenStoreError(): string | undefined {
    return this.#tokenStoreError;
  }

  #tokenStoreStatus(): OnePasswordAccountStatus[] {
    if (this.#tokenStoreError === undefined || this.#token !== undefined) return [];
    return [
      {
        account: SERVICE_ACCOUNT,
        mode: 'service-account',
        connected: false,
        lastError: this.#tokenStoreError,
        problem: 'token-store',
        readsThisHour: 0,
        hourlyLimit: this.#options.settings().hourlyLimit ?? 1000,
      },
    ];
  }

  accounts(): OpAccountConfig[] {
    const settings = this.#options.settings();
    const accounts: OpAccountConfig[] = [];
    const hourlyLimit = settings.hourlyLimit;
    if (this.#token) {
      accounts.push({
        name: SERVICE_ACCOUNT,
        auth: { kind: 'service-account', token: this.#token },
        ...(hourlyLimit ? { hourlyLimit } : {}),
      });
    }
    if (settings.desktopAccount) {
      accounts.push({
        name: settings.desktopAccount,
        auth: { kind: 'desktop', accountName: settings.desktopAccount },
      });
    }
    return accounts;
  }

  get connected(): boolean {
    return this.accounts().length > 0;
  }

  /** Pairs first (create a client, list vaults): a bad token is refused and nothing is stored. */
  async setToken(token: Secret): Promise<number> {
    const { vaultCount } = await pairServiceAccount(this.#options.factory, token);
    await this.#tokens.set(token);
    await this.reloadToken();
    return vaultCount;
  }

  /** Checks a 1Password app account (create a client, list vaults) before it is stored. */
  async checkDesktopAccount(accountName: string): Promise<number> {
    return (await pairDesktopAccount(this.#options.factory, accountName)).vaultCount;
  }

  async clearToken(): Promise<void> {
    await this.#tokens.clear();
    await this.reloadToken();
  }

  get tokenFromEnvironment(): boolean {
    return this.#tokenSource === 'env';
  }

  async status(probe: boolean): Promise<TokenStatus> {
    const settings = this.#options.settings();
    let vaultCount: number | undefined;
    let error: string | undefined;
    if (probe && this.connected) {
      try {
        vaultCount = (await this.vaults()).length;
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
    }
    return {
      tokenSource: this.#tokenSource,
      ...(settings.desktopAccount ? { desktopAccount: settings.desktopAccount } : {}),
      ...(vaultCount !== undefined ? { vaultCount } : {}),
      accounts: this.source.status(),
      ...(error || this.#tokenStoreError ? { error: error ?? this.#tokenStoreError } : {}),
    };
  }

  async vaults(account?: string): Promise<VaultView[]> {
    const signal = AbortSignal.timeout(DISCOVERY_TIMEOUT_MS);
    return listVaults(await this.source.client(account, signal), { signal });
  }

  async items(vaultId: string, account?: string): Promise<ItemView[]> {
    const signal = AbortSignal.timeout(DISCOVERY_TIMEOUT_MS);
    // The client first, then both lists from it: starting `vaults()` before awaiting the client
    // left it rejecting with nobody listening when 1Password was down (an unhandled rejection
    // that ended serve).
    const client = await this.source.client(account, signal);
    const [vaults, items] = await Promise.all([
      listVaults(client, { signal }),
      listItems(client, vaultId, { signal }),
    ]);
    const vault = vaults.find((v) => v.id === vaultId) ?? { id: vaultId, title: vaultId };
    return items.map((item) => ({
      id: item.id,
      title: item.title,
      category: item.category,
      vaultId: item.vaultId,
      fields: item.fields.flatMap((field) => {
        const ref = fieldReference(vault, item, field);
        return ref
          ? [
              {
                id: field.id,
                title: field.title,
                type: field.type,
                ...(field.section ? { section: field.section } : {}),
                ref,
              },
            ]
          : [];
      }),
    }));
  }

  async suggestions(account?: string): Promise<ImportSuggestionView[]> {
    const signal = AbortSignal.timeout(DISCOVERY_TIMEOUT_MS);
    const found = await importSuggestions(await this.source.client(account, signal), { signal });
    return found.map((s) => {
      const preset = Object.values(PRESETS).find((p) => p.host === s.host)?.name;
      return {
        host: s.host,
        ref: s.ref,
        vault: s.vault.title,
        item: s.item.title,
        ...(preset ? { preset } : {}),
      };
    });
  }
}
