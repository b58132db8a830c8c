/**
 * The one host of the engine, for `keygate serve` and the app alike (docs/architecture.md,
 * "One supervisor, two hosts"). It starts the KeygateEngine and its Controller, the loopback
 * control server (`keygate approvals/approve/deny`, and the settings page with `serve --ui`),
 * keeps serve.json true (address, stale mappings, control endpoint), watches for problems, and
 * fans every change out to the host's listeners. A host adds only what is its own: serve its
 * flags, stdout lines and signals; the app its token store, notifications and menu.
 *
 * With `keepRunningWithoutEngine` (the app), an engine that cannot start (port in use, a
 * non-loopback host in settings) is recorded, not thrown: the supervisor serves the contract from
 * a controller without an engine, so Settings still work, and enabling the proxy tries again.
 */
import { API_OPERATIONS, type ApiHandlers } from '../../shared/api.js';
import type { Alert } from '../../shared/alerts.js';
import { Controller } from '../controller.js';
import { KeygateEngine, type EngineOptions } from '../keygate-engine.js';
import type { Logger } from '../log/logger.js';
import { ProblemWatcher } from '../problem-watcher.js';
import { removeRuntimeInfo, writeRuntimeInfo } from '../runtime-file.js';
import { createSecretSetup } from '../secrets/secret-setup.js';
import { SettingsStore } from '../settings/settings-store.js';
import { startUiServer, type UiServer } from '../ui/ui-server.js';
import { readProblemState } from './problem-state.js';
import { defineError } from '../errors.js';

export class EngineNotRunningError extends defineError('EngineNotRunningError', {
  status: 500,
  code: 'engine_not_running',
}) {}

/** Activity can arrive thousands of times a second; listeners hear about it at most this often. */
const ACTIVITY_THROTTLE_MS = 1000;

export interface SupervisorOptions {
  /** What the engine starts with; `home` and `logger` are the supervisor's too. */
  readonly engine: EngineOptions & { readonly logger: Logger };
  /** The app: survive an engine that cannot start. serve: fail with it. */
  readonly keepRunningWithoutEngine?: boolean;
  /** The control server: its port (default: any free one), and the settings page to serve. */
  readonly control?: { readonly port?: number; readonly staticDir?: string };
  /** A problem appeared (notification, log line); each is reported once until it clears. */
  readonly onProblemAppear?: (alerts: Alert[]) => void;
  readonly onProblemClear?: (alerts: Alert[]) => void;
  /** Time between problem checks (default: ProblemWatcher's, 30 s); tests shorten it. */
  readonly problemIntervalMs?: number;
  /** The pid serve.json records; default this process. */
  readonly pid?: number;
}

export class EngineSupervisor {
  readonly home: string;
  readonly #options: SupervisorOptions;
  readonly #logger: Logger;
  readonly #pid: number;
  #engine: KeygateEngine | undefined;
  /** Only while the engine is down: the settings, for the controller that runs without it. */
  #fallbackStore: SettingsStore | undefined;
  #controller: Controller | undefined;
  #control: UiServer | undefined;
  #startError: Error | undefined;
  #actionError: string | undefined;
  #stale: Record<string, string> = {};
  #unsubscribe: Array<() => void> = [];
  readonly #listeners = new Set<() => void>();
  readonly #problems: ProblemWatcher;
  #activityTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  private constructor(options: SupervisorOptions) {
    this.#options = options;
    this.home = options.engine.home;
    this.#logger = options.engine.logger;
    this.#pid = options.pid ?? process.pid;
    this.#problems = new ProblemWatcher({
      read: async () => {
        const state = await readProblemState({
          handlers: this.handlers,
          accounts: () => this.#engine?.onePassword.source.status() ?? [],
          startError: () => this.#startError,
          hostProblem: () => this.#actionError,
        });
        this.#recordStale(state.stale);
        return state.alerts;
      },
      onAppear: (alerts) => options.onProblemAppear?.(alerts),
      onClear: (alerts) => options.onProblemClear?.(alerts),
      onError: (err) => this.#logger.warn('could not check for problems', { err }),
      ...(options.problemIntervalMs ? { intervalMs: options.problemIntervalMs } : {}),
    });
  }

  /**
   * Starts the engine and the control server. Throws what the engine throws, unless
   * `keepRunningWithoutEngine` (then see `startError`).
   */
  static async start(options: SupervisorOptions): Promise<EngineSupervisor> {
    const supervisor = new EngineSupervisor(options);
    try {
      await supervisor.#start();
      if (supervisor.#startError && !options.keepRunningWithoutEngine) throw supervisor.#startError;
      supervisor.#control = await startUiServer({
        controller: supervisor,
        host: '127.0.0.1',
        port: options.control?.port ?? 0,
        ...(options.control?.staticDir ? { staticDir: options.control.staticDir } : {}),
        logger: supervisor.#logger,
      });
      supervisor.#writeRuntimeInfo();
    } catch (err) {
      await supervisor.stop();
      throw err;
    }
    supervisor.#problems.soon();
    return supervisor;
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

  /** The control server (serve's `--ui` page lives on it). */
  get control(): UiServer {
    if (!this.#control) throw new EngineNotRunningError('the control server is not running');
    return this.#control;
  }

  /** Why the engine is down, or why the last `setEnabled` failed. */
  get problem(): string | undefined {
    return this.#startError?.message ?? this.#actionError;
  }

  get startError(): Error | undefined {
    return this.#startError;
  }

  /** The problems showing now (shared/alerts.ts). */
  get problems(): Alert[] {
    return this.#problems.active;
  }

  /**
   * The contract, as every transport serves it: each call goes to the controller of the moment
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

  /** "Proxy enabled". Throws what the engine throws (port in use). */
  async setEnabled(enabled: boolean): Promise<void> {
    try {
      if (this.#engine) {
        await this.#engine.setEnabled(enabled);
        this.#writeRuntimeInfo();
      } else {
        await this.controller.handlers['proxy.setEnabled']({ enabled });
        if (enabled) {
          await this.#start();
          this.#writeRuntimeInfo();
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
      this.#problems.soon();
      this.#emit();
    }
  }

  /** Settings changes, activity (throttled), approvals, the listener, engine start or failure. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#activityTimer);
    this.#problems.stop();
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#unsubscribe = [];
    removeRuntimeInfo(this.home, this.#pid);
    const engine = this.#engine;
    this.#engine = undefined;
    this.#fallbackStore?.close();
    this.#fallbackStore = undefined;
    await Promise.all([this.#control?.close(), engine?.stop()]);
    this.#listeners.clear();
  }

  async #start(): Promise<void> {
    const options = this.#options.engine;
    try {
      const engine = await KeygateEngine.start(options);
      this.#fallbackStore?.close();
      this.#fallbackStore = undefined;
      this.#engine = engine;
      this.#startError = undefined;
      this.#controller = new Controller({ store: engine.store, home: this.home, engine });
      this.#resubscribe(engine.store, engine);
      this.#logger.info('engine started', { address: engine.address ?? 'not listening' });
    } catch (err) {
      this.#startError = err instanceof Error ? err : new Error(String(err));
      if (!this.#options.keepRunningWithoutEngine) return;
      this.#logger.error('engine did not start; settings stay available', { err });
      if (!this.#fallbackStore) {
        const store = SettingsStore.open(this.home, { watch: true });
        this.#fallbackStore = store;
        this.#controller = new Controller({
          store,
          home: this.home,
          secrets: await createSecretSetup({
            home: this.home,
            settings: () => store.get(),
            ...(options.tokenStore ? { tokenStore: options.tokenStore } : {}),
            ...(options.env ? { env: options.env } : {}),
            ...(options.opFactory ? { opFactory: options.opFactory } : {}),
          }),
        });
        this.#resubscribe(store, undefined);
      }
    }
    this.#emit();
  }

  #resubscribe(store: SettingsStore, engine: KeygateEngine | undefined): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#unsubscribe = [
      store.onChange(() => {
        this.#problems.soon();
        this.#emit();
      }),
    ];
    if (!engine) return;
    this.#unsubscribe.push(
      engine.activity.subscribe((event) => {
        // A failed request may be the first sign of a problem (an item deleted); while one shows,
        // any request may be the sign it cleared.
        if (event.outcome === 'error' || this.#problems.active.length > 0) this.#problems.soon();
        this.#emitSoon();
      }),
      engine.approvals.onChange(() => this.#emit()),
      // Tokens counted: the menu's "used today" line follows at the activity's pace.
      engine.usage.onAdd(() => this.#emitSoon()),
      // The port moved (General settings): terminals' `keygate env` must learn the new one.
      engine.onListenerChange((address) => {
        this.#writeRuntimeInfo();
        if (address !== undefined) this.#logger.info('proxy moved', { address });
        this.#emit();
      }),
    );
  }

  #recordStale(stale: Record<string, string>): void {
    if (JSON.stringify(stale) === JSON.stringify(this.#stale)) return;
    this.#stale = stale;
    this.#writeRuntimeInfo();
  }

  /** serve.json: where the proxy listens, what it found stale, and the control endpoint. */
  #writeRuntimeInfo(): void {
    const engine = this.#engine;
    if (this.#stopped || !this.#control) return;
    try {
      if (engine?.port === undefined) {
        removeRuntimeInfo(this.home, this.#pid);
        return;
      }
      writeRuntimeInfo(this.home, {
        pid: this.#pid,
        host: this.#options.engine.host ?? engine.store.get().proxy.host,
        port: engine.port,
        ...(Object.keys(this.#stale).length > 0 ? { stale: this.#stale } : {}),
        control: { url: this.#control.url, token: this.#control.controlToken },
      });
    } catch (err) {
      // The proxy keeps working; only other terminals miss the update.
      this.#logger.warn('could not update serve.json', { err });
    }
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
