/**
 * The secret sources Keygate runs with, and the resolver in front of them: `env://` (the serve
 * process's environment) and `op://` (1Password, through the official SDK). Shared by the engine
 * and by CLI commands that resolve on their own (`map test`, the live check on `map add`).
 */
import { pathToFileURL } from 'node:url';
import type { Settings } from '../../shared/settings-schema.js';
import { VERSION } from '../version.js';
import { mappingRefs } from '../rules/compiled-mapping.js';
import { EnvSecretSource } from './env-source.js';
import type { OpClientFactory } from './onepassword/op-client.js';
import { OnePasswordService } from './onepassword/onepassword-service.js';
import { sdkClientFactory } from './onepassword/sdk-loader.js';
import type { TokenStore } from './onepassword/token-store.js';
import type { SecretSource } from './secret-source.js';
import { SecretResolver, type SecretResolverOptions } from './secret-resolver.js';

/**
 * Test seam: a module whose `createClient(auth)` stands in for the SDK, so `keygate serve` can be
 * tested end to end without 1Password's servers. Whoever controls serve's environment controls
 * serve anyway; the variable is documented in docs/onepassword.md.
 */
export const OP_CLIENT_MODULE_ENV = 'KEYGATE_OP_CLIENT_MODULE';

export function opClientFactory(env: NodeJS.ProcessEnv = process.env): OpClientFactory {
  const module = env[OP_CLIENT_MODULE_ENV];
  if (!module) return sdkClientFactory(VERSION);
  return async (auth) => {
    const loaded = (await import(pathToFileURL(module).href)) as { createClient?: OpClientFactory };
    if (typeof loaded.createClient !== 'function')
      throw new Error(`${OP_CLIENT_MODULE_ENV}: ${module} exports no createClient`);
    return loaded.createClient(auth);
  };
}

export interface SecretSetup {
  readonly resolver: SecretResolver;
  readonly onePassword: OnePasswordService;
}

export interface SecretSetupOptions {
  readonly home: string;
  readonly settings: () => Settings;
  readonly env?: NodeJS.ProcessEnv;
  readonly opFactory?: OpClientFactory;
  /** Where `token set` stores the token (the app: safeStorage); default the encrypted file. */
  readonly tokenStore?: TokenStore;
  /** Extra or replacement sources (tests); an `env` or `op` here replaces the default one. */
  readonly sources?: readonly SecretSource[];
  readonly resolver?: Omit<SecretResolverOptions, 'sources'>;
}

/** The account a reference is resolved with: the `account` of the mapping that uses it. */
function accountOf(settings: Settings, ref: string): string | undefined {
  for (const mapping of settings.mappings) {
    if (mappingRefs(mapping).includes(ref)) return mapping.account;
  }
  return undefined;
}

export async function createSecretSetup(options: SecretSetupOptions): Promise<SecretSetup> {
  const env = options.env ?? process.env;
  const onePassword = new OnePasswordService({
    home: options.home,
    factory: options.opFactory ?? opClientFactory(env),
    settings: () => options.settings().onePassword,
    accountFor: (ref) => accountOf(options.settings(), ref),
    env,
    ...(options.tokenStore ? { tokenStore: options.tokenStore } : {}),
  });
  await onePassword.reloadToken();
  const defaults: SecretSource[] = [new EnvSecretSource(env), onePassword.source];
  const extra = options.sources ?? [];
  const sources = [...extra, ...defaults.filter((d) => !extra.some((s) => s.scheme === d.scheme))];
  const resolver = new SecretResolver({ ...options.resolver, sources });
  return { resolver, onePassword };
}
