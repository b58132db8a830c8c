import { createRequire } from 'node:module';
import type * as SdkModule from '@1password/sdk';
import type { OpClient, OpClientFactory } from './op-client.js';

/** The `@1password/sdk` module. Only its type is imported statically; the code loads on demand. */
export type OpSdk = typeof SdkModule;

const SDK = '@1password/sdk';
const INTEGRATION_NAME = 'Keygate';

/*
 * The SDK costs ~200 ms and ~40 MB RSS to load (a WASM core: see the import-cost test), so it
 * is loaded on first need, never when this module is imported. Keygate without op:// mappings
 * never pays for it.
 *
 * Two doors, one module: `loadSdk()` uses `import()`, and `loadSdkSync()` uses `require` for the
 * one caller that must be synchronous (`validateOpReference`, behind `SecretSource.validate`).
 * The package is CommonJS (no "type": "module"; "main": dist/sdk.js), so Node's ESM `import()`
 * goes through the same CommonJS loader and cache as `require`: both return the same exports
 * object, and the error classes stay identical for `instanceof`.
 */
let loaded: OpSdk | undefined;
let loading: Promise<OpSdk> | undefined;

/** Load the SDK once (memoised). Concurrent callers share one import. */
export function loadSdk(): Promise<OpSdk> {
  if (loaded !== undefined) return Promise.resolve(loaded);
  loading ??= import('@1password/sdk').then(
    (sdk: OpSdk) => {
      loaded ??= sdk;
      return loaded;
    },
    (err: unknown) => {
      loading = undefined; // let a later call try again
      throw err;
    },
  );
  return loading;
}

/** Synchronous twin of `loadSdk`, for offline validation only. Throws if the SDK cannot load. */
export function loadSdkSync(): OpSdk {
  loaded ??= createRequire(import.meta.url)(SDK) as OpSdk;
  return loaded;
}

/** The SDK if something already loaded it, without loading it (error mapping uses this). */
export function loadedSdk(): OpSdk | undefined {
  return loaded;
}

/** True once the SDK has been loaded by this module (for tests and the benchmark). */
export function isSdkLoaded(): boolean {
  return loaded !== undefined;
}

/**
 * The production client factory: one `createClient` per account.
 *
 * The SDK's WASM core talks to 1Password with the process-wide `fetch`. Keygate must therefore
 * never install a global undici dispatcher (or proxy variables honoured by `fetch`) that would
 * route 1Password's own traffic through the agent proxy.
 */
export function sdkClientFactory(integrationVersion: string): OpClientFactory {
  return async (auth) => {
    const sdk = await loadSdk();
    const client: OpClient = await sdk.createClient({
      auth:
        auth.kind === 'service-account'
          ? auth.token.reveal()
          : new sdk.DesktopAuth(auth.accountName),
      integrationName: INTEGRATION_NAME,
      integrationVersion,
    });
    return client;
  };
}
