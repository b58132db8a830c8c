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
    const config = {
      auth:
        auth.kind === 'service-account'
          ? auth.token.reveal()
          : new sdk.DesktopAuth(auth.accountName),
      integrationName: INTEGRATION_NAME,
      integrationVersion,
    };
    if (auth.kind === 'service-account') return (await sdk.createClient(config)) as OpClient;
    return (await quietNativeLoad(() => sdk.createClient(config))) as OpClient;
  };
}

/** What the SDK (0.5) logs, with the error and its stack, when the 1Password app's library is absent. */
const NATIVE_LOAD_LOG = 'A critical error occurred while loading the native addon';

/**
 * Desktop mode: the SDK loads the 1Password app's library synchronously inside `createClient`
 * and, when it is missing, prints the error and its native stack with `console.error`, then
 * rejects with "Native library is not available." (recorded in sdk-contract.test.ts). Keygate
 * says that itself (error-mapping.ts: 'desktop-missing'), so that one log line is held back; the
 * swap covers only the synchronous call, so no other code's logging can fall into it.
 */
function quietNativeLoad<T>(create: () => Promise<T>): Promise<T> {
  /* eslint-disable no-console -- the SDK's own console.error is what is being held back */
  const original = console.error;
  console.error = (...args: unknown[]): void => {
    if (typeof args[0] === 'string' && args[0].startsWith(NATIVE_LOAD_LOG)) return;
    original(...args);
  };
  try {
    return create();
  } finally {
    console.error = original;
  }
  /* eslint-enable no-console */
}
