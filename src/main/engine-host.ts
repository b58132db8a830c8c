/**
 * The engine, hosted in the main process: the same KeygateEngine and Controller as
 * `keygate serve`, over the same home (defaultHome()), with the 1Password token kept by
 * safeStorage instead of the headless encrypted file.
 *
 * If the engine cannot start (the port is taken, the settings name a non-loopback host), the app
 * keeps running on a controller without an engine, so Settings still work and the tray can say
 * what is wrong; enabling the proxy tries again.
 */
import { safeStorage } from 'electron';
import ElectronStore from 'electron-store';
import { API_OPERATIONS, type ApiHandlers } from '../shared/api.js';
import { Controller } from '../engine/controller.js';
import { ensureDirectNetwork } from '../engine/direct-network.js';
import { defaultHome } from '../engine/home.js';
import { KeygateEngine, type EngineOptions } from '../engine/keygate-engine.js';
import type { Logger } from '../engine/log/logger.js';
import { removeRuntimeInfo, writeRuntimeInfo } from '../engine/runtime-file.js';
import {
  FileTokenStore,
  TokenStoreChain,
  type TokenStore,
} from '../engine/secrets/onepassword/token-store.js';
import { createSecretSetup, type SecretSetupOptions } from '../engine/secrets/secret-setup.js';
import { SettingsStore } from '../engine/settings/settings-store.js';
import {
  SafeStorageTokenStore,
  TOKEN_STORE_NAME,
  type CiphertextStore,
} from './safe-storage-token-store.js';

/** The engine's options as the app passes them: with the app's safeStorage token store. */
type WithTokenStore<T> = T & { readonly tokenStore: TokenStore };

export class EngineNotRunningError extends Error {
  override name = 'EngineNotRunningError';
}

/** Activity can arrive thousands of times a second; listeners hear about it at most this often. */
const ACTIVITY_THROTTLE_MS = 1000;

export interface EngineHostOptions {
  readonly home?: string;
  readonly logger: Logger;
}

export class EngineHost {
  readonly home: string;
  readonly #logger: Logger;
  readonly #tokenStore: TokenStore;
  #engine: KeygateEngine | undefined;
  /** Only while the engine is down: the settings, for the controller that runs without it. */
  #fallbackStore: SettingsStore | undefined;
  #controller: Controller | undefined;
  #startError: Error | undefined;
  #actionError: string | undefined;
  #unsubscribe: Array<() => void> = [];
  readonly #listeners = new Set<() => void>();
  #activityTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  private constructor(options: EngineHostOptions) {
    this.home = options.home ?? defaultHome();
    this.#logger = options.logger;
    this.#tokenStore = appTokenStore(this.home);
  }

  /** Starts the engine; a failure to start is recorded (startError), not thrown. */
  static async start(options: EngineHostOptions): Promise<EngineHost> {
    // The app started from a shell that ran `keygate env` must not proxy its own traffic.
    const network = ensureDirectNetwork();
    for (const name of network.dropped)
      options.logger.info('ignoring an inherited proxy variable', { name });
    if (network.warning) options.logger.warn(network.warning);
    const host = new EngineHost(options);
    await host.#start();
    return host;
  }

  /** The running engine. Throws when it is not running: check `running` first. */
  get engine(): KeygateEngine {
    if (!this.#engine) {
      throw new EngineNotRunningError(
        `the Keygate engine is not running${this.#startError ? `: ${this.#startError.message}` : ''}`,
      );
    }
    return this.#engine;
  }

  get running(): boolean {
    return this.#engine !== undefined;
  }

  get controller(): Controller {
    if (!this.#controller) throw new EngineNotRunningError('the engine host has been stopped');
    return this.#controller;
  }

  /** Why the engine is down, or why the last tray action failed. */
  get problem(): string | undefined {
    return this.#startError?.message ?? this.#actionError;
  }

  get startError(): Error | undefined {
    return this.#startError;
  }

  /**
   * The contract, as the IPC layer serves it: each call goes to the controller of the moment
   * (it changes when the engine restarts), and `proxy.setEnabled` can restart an engine that
   * failed to start.
   */
  readonly handlers: ApiHandlers = {
    ...(Object.fromEntries(
      API_OPERATIONS.map((op) => [
        op,
        (request: unknown) =>
          (this.controller.handlers[op] as (request: unknown) => Promise<unknown>)(request),
      ]),
    ) as ApiHandlers),
    'proxy.setEnabled': async ({ enabled }) => {
      await this.setEnabled(enabled);
      return this.controller.handlers['proxy.status']();
    },
  };

  /** The tray's and the UI's "Proxy enabled". Throws what the engine throws (port in use). */
  async setEnabled(enabled: boolean): Promise<void> {
    try {
      if (this.#engine) {
        await this.#engine.setEnabled(enabled);
        this.#writeRuntimeInfo();
      } else {
        await this.controller.handlers['proxy.setEnabled']({ enabled });
        if (enabled) {
          await this.#start();
          if (this.#startError) throw this.#startError;
        } else {
          // Off on purpose: why it could not start no longer matters.
          this.#startError = undefined;
        }
      }
      this.#actionError = undefined;
    } catch (err) {
      this.#actionError = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      this.#emit();
    }
  }

  /** Settings changes, activity (throttled), and engine start or failure. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#activityTimer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#unsubscribe = [];
    removeRuntimeInfo(this.home, process.pid);
    const engine = this.#engine;
    this.#engine = undefined;
    this.#fallbackStore?.close();
    this.#fallbackStore = undefined;
    await engine?.stop();
    this.#listeners.clear();
  }

  async #start(): Promise<void> {
    const options: WithTokenStore<EngineOptions> = {
      home: this.home,
      logger: this.#logger,
      tokenStore: this.#tokenStore,
    };
    try {
      const engine = await KeygateEngine.start(options);
      this.#fallbackStore?.close();
      this.#fallbackStore = undefined;
      this.#engine = engine;
      this.#startError = undefined;
      this.#controller = new Controller({ store: engine.store, home: this.home, engine });
      this.#resubscribe(engine.store, engine);
      this.#writeRuntimeInfo();
      this.#logger.info('engine started', { address: engine.address ?? 'not listening' });
    } catch (err) {
      this.#startError = err instanceof Error ? err : new Error(String(err));
      this.#logger.error('engine did not start; settings stay available', { err });
      if (!this.#fallbackStore) {
        const store = SettingsStore.open(this.home, { watch: true });
        this.#fallbackStore = store;
        const secretOptions: WithTokenStore<SecretSetupOptions> = {
          home: this.home,
          settings: () => store.get(),
          tokenStore: this.#tokenStore,
        };
        this.#controller = new Controller({
          store,
          home: this.home,
          secrets: await createSecretSetup(secretOptions),
        });
        this.#resubscribe(store, undefined);
      }
    }
    this.#emit();
  }

  #resubscribe(store: SettingsStore, engine: KeygateEngine | undefined): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#unsubscribe = [store.onChange(() => this.#emit())];
    if (engine) {
      this.#unsubscribe.push(engine.activity.subscribe(() => this.#emitSoon()));
      // The port moved (General settings): terminals' `keygate env` must learn the new one.
      this.#unsubscribe.push(
        engine.onListenerChange(() => {
          this.#writeRuntimeInfo();
          this.#emit();
        }),
      );
    }
  }

  #writeRuntimeInfo(): void {
    const engine = this.#engine;
    if (engine?.port === undefined) {
      removeRuntimeInfo(this.home, process.pid);
      return;
    }
    // Tells `keygate env` / `keygate run` in a terminal where the app's proxy listens.
    writeRuntimeInfo(this.home, {
      pid: process.pid,
      host: engine.store.get().proxy.host,
      port: engine.port,
    });
  }

  #emitSoon(): void {
    this.#activityTimer ??= setTimeout(() => {
      this.#activityTimer = undefined;
      this.#emit();
    }, ACTIVITY_THROTTLE_MS);
  }

  #emit(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (err) {
        this.#logger.error('an engine listener failed', { err });
      }
    }
  }
}

/** Starts the engine over the shared home (defaultHome(), like `keygate serve`). */
export function setupEngine(logger: Logger): Promise<EngineHost> {
  return EngineHost.start({ logger });
}

/**
 * The app's token stores: safeStorage first (where the app writes), then the headless encrypted
 * file, so a token set earlier with `keygate token set` keeps working until one is set in the app.
 * The environment (OP_SERVICE_ACCOUNT_TOKEN) still comes before both; the engine adds it.
 */
function appTokenStore(home: string): TokenStore {
  const store = new ElectronStore<Record<string, unknown>>({
    name: TOKEN_STORE_NAME,
    cwd: home,
    // Only ciphertext is in it, but nobody else needs to read even that.
    configFileMode: 0o600,
  });
  const ciphertexts: CiphertextStore = {
    get: (key) => store.get(key),
    set: (key, value) => store.set(key, value),
    delete: (key) => store.delete(key),
    path: store.path,
  };
  return new TokenStoreChain([
    new SafeStorageTokenStore(safeStorage, ciphertexts),
    new FileTokenStore(home),
  ]);
}
