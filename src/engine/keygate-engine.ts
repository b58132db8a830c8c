/**
 * The whole engine, assembled: settings, CA and leaves, secret resolution, rules, and the proxy.
 * `keygate serve` and the Electron main process both start exactly this. It follows the settings
 * file: a mapping added by the CLI or the app takes effect without a restart.
 */
import { readFile } from 'node:fs/promises';
import type { Settings } from '../shared/settings-schema.js';
import { uriHost } from '../shared/uri-host.js';
import { ActivityLog } from './activity/activity-log.js';
import { settingsApprovalPolicy } from './approvals/approval-policy.js';
import { ApprovalQueue } from './approvals/approval-queue.js';
import { defineError, errnoCode, InvalidInputError, SettingsError } from './errors.js';
import { homePaths, type HomePaths } from './home.js';
import { silentLogger, type Logger } from './log/logger.js';
import { BudgetHooks } from './budgets/budget-hooks.js';
import { AgentDirectory } from './proxy/agent-directory.js';
import { composeHooks } from './proxy/compose-hooks.js';
import { UpstreamRoutes } from './proxy/connect-to.js';
import { UpstreamDns } from './proxy/dns-lookup.js';
import { CredentialProxy, type ProxyPolicy, type ProxyTimeouts } from './proxy/credential-proxy.js';
import { createUpstreamAgents, type UpstreamAgents } from './proxy/upstream-agents.js';
import { CompiledMapping, mappingRefs } from './rules/compiled-mapping.js';
import { isLoopbackHost } from './rules/host-name.js';
import { RuleTable } from './rules/rule-table.js';
import type { OpClientFactory } from './secrets/onepassword/op-client.js';
import type { OnePasswordService } from './secrets/onepassword/onepassword-service.js';
import type { TokenStore } from './secrets/onepassword/token-store.js';
import { createSecretSetup } from './secrets/secret-setup.js';
import type { SecretSource } from './secrets/secret-source.js';
import type { SecretResolver, SecretResolverOptions } from './secrets/secret-resolver.js';
import { ensureDefaultAgent } from './settings/agents.js';
import { SettingsStore } from './settings/settings-store.js';
import { writeCaBundle } from './tls/ca-bundle.js';
import { UsageHooks } from './usage/usage-hooks.js';
import { UsageStore } from './usage/usage-store.js';
import {
  LeafCertificates,
  loadOrCreateCertificateAuthority,
  type CertificateAuthority,
} from './tls/index.js';

export interface EngineOptions {
  readonly home: string;
  /** Overrides settings.proxy.host / port. */
  readonly host?: string;
  readonly port?: number;
  readonly upstreamCaFiles?: readonly string[];
  readonly connectTo?: readonly string[];
  /** DNS servers for names without a mapping (`serve --dns-server`, dns-lookup.ts). */
  readonly dnsServers?: readonly string[];
  /** Forces deny-unmapped on, whatever the settings say. */
  readonly denyUnmapped?: boolean;
  readonly logger?: Logger;
  /** Replaces the default source for its scheme (tests). */
  readonly sources?: readonly SecretSource[];
  readonly resolver?: Omit<SecretResolverOptions, 'sources'>;
  /** Stands in for the 1Password SDK (tests). */
  readonly opFactory?: OpClientFactory;
  /** Where `token set` stores the 1Password token (the app passes safeStorage). */
  readonly tokenStore?: TokenStore;
  /** Where `env://` and OP_SERVICE_ACCOUNT_TOKEN are read; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly timeouts?: Partial<ProxyTimeouts>;
  readonly connectionsCheckingIntervalMs?: number;
  readonly headersTimeoutMs?: number;
  /** How long a request waits for the user's approval (`serve --approval-timeout`); 120 s. */
  readonly approvalTimeoutMs?: number;
}

interface EngineParts {
  readonly store: SettingsStore;
  readonly ca: CertificateAuthority;
  readonly resolver: SecretResolver;
  readonly onePassword: OnePasswordService;
  readonly activity: ActivityLog;
  readonly approvals: ApprovalQueue;
  readonly usage: UsageStore;
  readonly budgets: BudgetHooks;
  readonly upstream: UpstreamAgents;
  readonly proxy: CredentialProxy;
  readonly log: Logger;
}

export class PortInUseError extends defineError('PortInUseError', {
  status: 500,
  code: 'port_in_use',
}) {}

export class KeygateEngine {
  readonly paths: HomePaths;
  #lastError: string | undefined;
  #unsubscribe: (() => void) | undefined;
  #listenerChange: Promise<void> = Promise.resolve();
  readonly #listenerWatchers = new Set<(address: string | undefined) => void>();
  #tokenChangedAt: string | undefined;

  readonly store: SettingsStore;
  readonly ca: CertificateAuthority;
  readonly resolver: SecretResolver;
  readonly onePassword: OnePasswordService;
  readonly activity: ActivityLog;
  /** Held requests of agents that ask (docs/agents.md, Approvals). */
  readonly approvals: ApprovalQueue;
  /** Tokens per agent × mapping × model × day (docs/agents.md, Usage and budgets). */
  readonly usage: UsageStore;
  /** Per-agent request and token budgets; `hits()` for status. */
  readonly budgets: BudgetHooks;
  readonly #upstream: UpstreamAgents;
  readonly #proxy: CredentialProxy;
  readonly #log: Logger;

  private constructor(
    private readonly options: EngineOptions,
    parts: EngineParts,
  ) {
    this.paths = homePaths(options.home);
    this.store = parts.store;
    this.ca = parts.ca;
    this.resolver = parts.resolver;
    this.onePassword = parts.onePassword;
    this.activity = parts.activity;
    this.approvals = parts.approvals;
    this.usage = parts.usage;
    this.budgets = parts.budgets;
    this.#upstream = parts.upstream;
    this.#proxy = parts.proxy;
    this.#log = parts.log;
  }

  static async start(options: EngineOptions): Promise<KeygateEngine> {
    const log = options.logger ?? silentLogger;
    const { routes, extraCaPem, dns } = await checkStartOptions(options);
    const paths = homePaths(options.home);
    const store = SettingsStore.open(options.home, {
      watch: true,
      // A file that passes the schema but does not compile (two mappings for one host, a grant
      // of `*`) is refused like garbage, so the proxy keeps the last good rules.
      validate: (settings) => void policyFrom(settings, options, silentLogger),
      onInvalid: ({ reason }) =>
        log.warn('settings.json changed but is invalid; keeping the last good settings', {
          reason,
        }),
      onRecovered: ({ corruptPath, reason }) =>
        log.warn('settings file was corrupt; kept it aside and started from defaults', {
          corruptPath,
          reason,
        }),
    });
    try {
      ensureDefaultAgent(store);
      const ca = await loadOrCreateCertificateAuthority(paths.caDir);
      await writeCaBundle(paths.caBundle, ca.certPem);
      const leaves = await LeafCertificates.create(ca);
      warmUpMinting(leaves, log);
      const { resolver, onePassword } = await createSecretSetup({
        home: options.home,
        settings: () => store.get(),
        ...(options.env ? { env: options.env } : {}),
        ...(options.opFactory ? { opFactory: options.opFactory } : {}),
        ...(options.tokenStore ? { tokenStore: options.tokenStore } : {}),
        ...(options.sources ? { sources: options.sources } : {}),
        ...(options.resolver ? { resolver: options.resolver } : {}),
      });
      const upstream = createUpstreamAgents({ routes, extraCaPem, dns });
      const settings = store.get();
      const activity = new ActivityLog(200);
      const approvals = new ApprovalQueue({
        policy: settingsApprovalPolicy(store),
        ...(options.approvalTimeoutMs ? { timeoutMs: options.approvalTimeoutMs } : {}),
      });
      const usage = new UsageStore({
        home: options.home,
        onError: (err) => log.warn('usage could not be recorded', { err }),
      });
      const budgets = new BudgetHooks({ agents: () => store.get().agents, usage });
      const proxy = new CredentialProxy({
        logger: log,
        activity,
        resolver,
        leaves,
        routes,
        upstream,
        policy: policyFrom(settings, options, log),
        // Budgets first: an agent over budget is refused before an approval would ask the user.
        hooks: composeHooks([budgets, approvals.hooks, new UsageHooks(usage, log)], log),
        ...(options.timeouts ? { timeouts: options.timeouts } : {}),
        ...(options.connectionsCheckingIntervalMs
          ? { connectionsCheckingIntervalMs: options.connectionsCheckingIntervalMs }
          : {}),
        ...(options.headersTimeoutMs ? { headersTimeoutMs: options.headersTimeoutMs } : {}),
      });
      const engine = new KeygateEngine(options, {
        store,
        ca,
        resolver,
        onePassword,
        activity,
        approvals,
        usage,
        budgets,
        upstream,
        proxy,
        log,
      });
      if (settings.proxy.enabled) await engine.#listen(settings);
      else
        log.warn('proxy is disabled in settings; not listening (enable it in the app or settings)');
      engine.#tokenChangedAt = settings.onePassword.tokenChangedAt;
      engine.#unsubscribe = store.onChange((next) => engine.#apply(next));
      engine.#prefetch(settings);
      return engine;
    } catch (err) {
      store.close();
      throw err;
    }
  }

  get address(): string | undefined {
    const address = this.#proxy.address;
    if (!address) return undefined;
    return `http://${uriHost(address.address)}:${address.port}`;
  }

  get port(): number | undefined {
    return this.#proxy.address?.port;
  }

  get policy(): ProxyPolicy {
    return this.#proxy.policy;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.approvals.close();
    await this.#proxy.close();
    this.#upstream.destroy();
    await this.usage
      .flush()
      .catch((err: unknown) => this.#log.warn('usage could not be written at stop', { err }));
    this.store.close();
  }

  async #listen(settings: Settings): Promise<void> {
    const host = this.options.host ?? settings.proxy.host;
    const port = this.options.port ?? settings.proxy.port;
    assertLoopback(host);
    try {
      await this.#proxy.listen(host, port);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EADDRINUSE') {
        throw new PortInUseError(
          `port ${port} on ${host} is in use: is another Keygate running? (keygate doctor)`,
          { cause: err },
        );
      }
      throw new Error(`cannot listen on ${host}:${port}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.#log.info('proxy listening', { address: this.address });
  }

  /** Opens or closes the listener (the menu's "Proxy enabled"); settings keep the choice. */
  async setEnabled(enabled: boolean): Promise<void> {
    if (this.store.get().proxy.enabled !== enabled) {
      this.store.update((draft) => {
        draft.proxy.enabled = enabled;
      });
    }
    await this.#syncListener(this.store.get());
  }

  get listening(): boolean {
    return this.#proxy.address !== undefined;
  }

  /** Called after the listener opened, closed or moved to another port. */
  onListenerChange(listener: (address: string | undefined) => void): () => void {
    this.#listenerWatchers.add(listener);
    return () => this.#listenerWatchers.delete(listener);
  }

  /** Resolves once the listener matches the settings (or rejects with why it could not). */
  listenerSettled(): Promise<void> {
    return this.#listenerChange;
  }

  #syncListener(settings: Settings): Promise<void> {
    // Serialised: a quick off/on/off must not interleave listen() and close().
    this.#listenerChange = this.#listenerChange
      .catch(() => undefined)
      .then(async () => {
        const before = this.address;
        if (settings.proxy.enabled && !this.listening) await this.#listen(settings);
        else if (!settings.proxy.enabled && this.listening) {
          await this.#proxy.close();
          this.#log.info('proxy disabled; listener closed');
        } else if (settings.proxy.enabled && this.#portMoved(settings)) {
          await this.#move(settings);
        }
        if (this.address !== before) {
          for (const watcher of [...this.#listenerWatchers]) watcher(this.address);
        }
      });
    return this.#listenerChange;
  }

  /** The settings name another port than the one in use, and no --port flag pins it. */
  #portMoved(settings: Settings): boolean {
    return this.options.port === undefined && this.port !== settings.proxy.port;
  }

  /** Re-listens on the settings' port; if it cannot be had, goes back to the old one. */
  async #move(settings: Settings): Promise<void> {
    const host = this.options.host ?? settings.proxy.host;
    const old = this.port ?? settings.proxy.port;
    await this.#proxy.close();
    try {
      await this.#listen(settings);
    } catch (err) {
      await this.#proxy.listen(host, old);
      throw err;
    }
  }

  #apply(settings: Settings): void {
    if (settings.onePassword.tokenChangedAt !== this.#tokenChangedAt) {
      // `keygate token set/clear` (maybe in another process) changed the token: reload it, and
      // forget cached results and cooldowns that came from the old one.
      this.#tokenChangedAt = settings.onePassword.tokenChangedAt;
      this.onePassword.reloadToken().then(
        () => {
          this.resolver.invalidate();
          this.#prefetch(this.store.get());
        },
        (err: unknown) => this.#log.error('could not reload the 1Password token', { err }),
      );
    }
    this.#proxy.setPolicy(policyFrom(settings, this.options, this.#log));
    // "Asks" switched off, a grant stored elsewhere, an agent removed: held requests follow.
    this.approvals.reconsider();
    this.#syncListener(settings).catch((err: unknown) => {
      this.#lastError = err instanceof Error ? err.message : String(err);
      this.#log.error('could not change the listener', { err });
    });
    this.#log.info('settings changed; rules reloaded', {
      mappings: settings.mappings.length,
      agents: settings.agents.length,
    });
    this.#prefetch(settings);
  }

  #prefetch(settings: Settings): void {
    const refs = new Set<string>();
    for (const mapping of settings.mappings) {
      for (const ref of mappingRefs(mapping)) refs.add(ref);
    }
    this.resolver.prefetch([...refs]).catch((err: unknown) => {
      this.#lastError = err instanceof Error ? err.message : String(err);
      this.#log.warn('prefetch failed', { err });
    });
  }
}

/** Compiles the settings into what the proxy enforces. A bad mapping is skipped, loudly. */
function policyFrom(settings: Settings, options: EngineOptions, log: Logger): ProxyPolicy {
  const valid = settings.mappings.filter((mapping) => {
    try {
      new CompiledMapping(mapping);
      return true;
    } catch (err) {
      log.error('mapping skipped: it does not compile', {
        host: mapping.host,
        reason: (err as Error).message,
      });
      return false;
    }
  });
  let agents: AgentDirectory;
  try {
    agents = new AgentDirectory(settings.agents);
  } catch (err) {
    throw new SettingsError(`agents in settings are invalid: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    rules: new RuleTable(valid),
    agents,
    denyUnmapped: options.denyUnmapped === true || settings.proxy.denyUnmapped,
  };
}

/**
 * The first leaf of a process is slow to mint (~15-30 ms: OpenSSL and V8 warming up; later ones
 * take ~1 ms, docs/performance.md). One throwaway mint in the background at start takes that
 * cost, so an agent's first CONNECT doesn't.
 */
function warmUpMinting(leaves: LeafCertificates, log: Logger): void {
  setImmediate(() => {
    leaves
      .secureContextFor('warm-up.keygate.invalid')
      .catch((err: unknown) => log.debug('certificate warm-up failed', { err }));
  });
}

/**
 * Checks the options that come from a command line (`serve --host/--connect-to/--upstream-ca`).
 * Exported so that `serve` can refuse bad ones before it opens, or creates, anything in the home.
 */
export async function checkStartOptions(
  options: Pick<EngineOptions, 'host' | 'connectTo' | 'upstreamCaFiles' | 'dnsServers'>,
): Promise<{ routes: UpstreamRoutes; extraCaPem: string[]; dns: UpstreamDns }> {
  if (options.host !== undefined) assertLoopback(options.host);
  const routes = UpstreamRoutes.parse(options.connectTo ?? []);
  const dns = new UpstreamDns(options.dnsServers ? { servers: options.dnsServers } : {});
  const extraCaPem = await Promise.all(
    (options.upstreamCaFiles ?? []).map((file) =>
      readFile(file, 'utf8').catch((err: unknown) => {
        throw new InvalidInputError(
          `--upstream-ca ${file}: ${errnoCode(err) === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err)}`,
        );
      }),
    ),
  );
  return { routes, extraCaPem, dns };
}

/**
 * Agents authenticate with a token, but the security model binds loopback so that no other
 * machine can even try (docs/security.md).
 */
function assertLoopback(host: string): void {
  if (!isLoopbackHost(host)) {
    throw new InvalidInputError(
      `--host ${host}: Keygate only listens on loopback (127.0.0.1, ::1, localhost)`,
    );
  }
}
