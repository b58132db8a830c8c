import type { Client } from '@1password/sdk';
import type { Secret } from '../secret.js';

/**
 * The narrow slice of the 1Password SDK client that Keygate uses. The real SDK `Client` fits it
 * (checked below at compile time), and the test fake implements exactly this, nothing more.
 *
 * Only `secrets.*` ever returns secret values. `items.get` returns field values too, but
 * discovery copies field *names* out of it and drops the rest at once.
 */
export interface OpClient {
  secrets: {
    resolve(ref: string): Promise<string>;
    resolveAll(refs: string[]): Promise<{
      individualResponses: Record<
        string,
        { content?: { secret: string }; error?: { type: string; message?: string } }
      >;
    }>;
  };
  vaults: { list(): Promise<Array<{ id: string; title: string }>> };
  items: {
    list(vaultId: string): Promise<
      Array<{
        id: string;
        title: string;
        category: string;
        vaultId: string;
        websites: Array<{ url: string; label: string }>;
      }>
    >;
    get(
      vaultId: string,
      itemId: string,
    ): Promise<{
      id: string;
      title: string;
      category: string;
      vaultId: string;
      fields: Array<{ id: string; title: string; fieldType: string; sectionId?: string }>;
      sections: Array<{ id: string; title: string }>;
    }>;
  };
}

/**
 * How a client authenticates.
 * - `service-account`: a service-account token (`ops_…`), from `keygate token set`, the app's
 *   keychain entry or `OP_SERVICE_ACCOUNT_TOKEN`. Reads are rate-limited per hour.
 * - `desktop`: the 1Password desktop app (macOS). The SDK loads a library from
 *   `/Applications/1Password.app`; on first use the app asks the user to approve Keygate
 *   ("Keygate wants to access 1Password", approved with Touch ID or the account password), and
 *   asks again when the app locks. No token is stored. Cannot be exercised on Linux CI.
 */
export type OpAuth =
  | { kind: 'service-account'; token: Secret } // SECRET: never log (the Secret redacts itself)
  | { kind: 'desktop'; accountName: string };

export type OpClientFactory = (auth: OpAuth) => Promise<OpClient>;

/** Compile-time proof that the real SDK client satisfies the narrow interface. */
type Assert<T extends true> = T;
export type _SdkClientIsAnOpClient = Assert<Client extends OpClient ? true : false>;
