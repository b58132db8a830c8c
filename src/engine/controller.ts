/**
 * The contract's handlers (src/shared/api.ts): what the CLI calls directly, and what the app's
 * IPC and `serve --ui`'s HTTP transport will route to. Works with or without a running engine:
 * `keygate map add` edits the settings file, and a running `keygate serve` picks the change up.
 */
import type {
  ApiHandlers,
  AppOnlyHandlers,
  ApiRequest,
  CaInfo,
  ProxyStatus,
  TokenStatus,
} from '../shared/api.js';
import { buildAgentEnv } from './agent-env.js';
import { agentHandlers } from './agent-handlers.js';
import { mappingHandlers } from './mapping-handlers.js';
import { runDoctor } from './doctor.js';
import { budgetHitView } from './budgets/budget-input.js';
import { AppOnlyOperationError, InvalidInputError } from './errors.js';
import { homePaths, type HomePaths } from './home.js';
import type { KeygateEngine } from './keygate-engine.js';
import { Secret } from './secrets/secret.js';
import { PairingError } from './secrets/onepassword/pairing.js';
import { createSecretSetup, type SecretSetup } from './secrets/secret-setup.js';
import { DEFAULT_AGENT, ensureDefaultAgent } from './settings/agents.js';
import type { SettingsStore } from './settings/settings-store.js';
import { writeCaBundle } from './tls/ca-bundle.js';
import { loadOrCreateCertificateAuthority } from './tls/index.js';
import { readRuntimeInfo } from './runtime-file.js';
import { tokensToday, usageRows } from './usage/usage-summary.js';
import { trustCommandLine } from '../shared/trust-command-line.js';

export interface ControllerOptions {
  readonly store: SettingsStore;
  readonly home: string;
  /** The running engine, when there is one in this process (serve, the app). */
  readonly engine?: KeygateEngine;
  /** Sources and resolver when no engine runs here (default: env:// and op:// over this home). */
  readonly secrets?: SecretSetup;
}

export class Controller {
  /** Every operation of the contract; dispatch() validates requests before they get here. */
  readonly handlers: ApiHandlers;
  readonly #store: SettingsStore;
  readonly #paths: HomePaths;
  readonly #engine: KeygateEngine | undefined;
  #secrets: Promise<SecretSetup> | undefined;

  constructor(options: ControllerOptions) {
    this.#store = options.store;
    this.#paths = homePaths(options.home);
    this.#engine = options.engine;
    const engine = options.engine;
    if (engine)
      this.#secrets = Promise.resolve({
        resolver: engine.resolver,
        onePassword: engine.onePassword,
      });
    else if (options.secrets) this.#secrets = Promise.resolve(options.secrets);
    this.handlers = this.#buildHandlers();
  }

  /** Created on first use: commands that never resolve never read the token. */
  #setup(): Promise<SecretSetup> {
    this.#secrets ??= createSecretSetup({
      home: this.#paths.home,
      settings: () => this.#store.get(),
    });
    return this.#secrets;
  }

  #buildHandlers(): ApiHandlers {
    return {
      ...mappingHandlers({
        store: this.#store,
        home: this.#paths.home,
        setup: () => this.#setup(),
        engineHere: this.#engine !== undefined,
      }),
      ...agentHandlers(this.#store),
      'agents.env': async ({ name }) => this.#env(name ?? DEFAULT_AGENT),
      'proxy.status': async () => this.#status(),
      'proxy.setEnabled': async ({ enabled }) => {
        if (this.#engine) await this.#engine.setEnabled(enabled);
        else
          this.#store.update((draft) => {
            draft.proxy.enabled = enabled;
          });
        return this.#status();
      },
      'proxy.configure': async (request) => this.#configure(request),
      'activity.recent': async ({ limit }) => this.#engine?.activity.recent(limit) ?? [],
      'usage.list': async (request) =>
        usageRows({ request, store: this.#engine?.usage, home: this.#paths.home }),
      'approvals.list': async () => this.#approvals().list(),
      'approvals.decide': async ({ id, decision, forSeconds }) =>
        this.#approvals().decide(
          id,
          decision,
          forSeconds === undefined ? undefined : forSeconds * 1000,
        ),
      'ca.info': async () => this.#caInfo(),
      'doctor.run': async () =>
        runDoctor({
          settings: this.#store.get(),
          paths: this.#paths,
          setup: () => this.#setup(),
          caInfo: () => this.#caInfo(),
        }),
      'token.set': async ({ token }) => this.#setToken(token),
      'token.useDesktop': async ({ accountName }) => this.#useDesktop(accountName),
      'token.status': async () => (await this.#setup()).onePassword.status(true),
      'token.clear': async () => this.#clearToken(),
      'onepassword.vaults': async ({ account }) => (await this.#connected()).vaults(account),
      'onepassword.items': async ({ vaultId, account }) =>
        (await this.#connected()).items(vaultId, account),
      'onepassword.suggestions': async ({ account }) =>
        (await this.#connected()).suggestions(account),
      ...this.#appOnlyRefusals(),
    };
  }

  /** APP_ONLY_OPERATIONS: the app lays its own handlers over these (engine/desktop/app-handlers.ts). */
  #appOnlyRefusals(): AppOnlyHandlers {
    const refuse = (message: string) => async (): Promise<never> => {
      throw new AppOnlyOperationError(message);
    };
    return {
      'app.launchAtLogin': refuse('launch at login is a setting of the macOS app'),
      'ca.trustState': refuse('keychain trust is managed by the macOS app'),
      'ca.trust': refuse(
        `trust the CA with \`keygate ca trust\` on the Mac, or: ${trustCommandLine(this.#paths.caCert)}`,
      ),
    };
  }

  async #connected() {
    const { onePassword } = await this.#setup();
    if (!onePassword.connected) {
      throw new InvalidInputError(
        'no 1Password account is connected: `keygate token set`, OP_SERVICE_ACCOUNT_TOKEN, or the 1Password app',
      );
    }
    return onePassword;
  }

  #markTokenChanged(): void {
    this.#store.update((draft) => {
      draft.onePassword.tokenChangedAt = new Date().toISOString();
    });
  }

  async #setToken(token: string): Promise<TokenStatus> {
    const { onePassword, resolver } = await this.#setup();
    let vaultCount: number;
    try {
      vaultCount = await onePassword.setToken(new Secret(token.trim()));
    } catch (err) {
      if (err instanceof PairingError && err.reason === 'malformed-token')
        throw new InvalidInputError(err.message);
      throw err;
    }
    resolver.invalidate();
    this.#markTokenChanged();
    return { ...(await onePassword.status(false)), vaultCount };
  }

  async #useDesktop(accountName: string): Promise<TokenStatus> {
    const name = accountName.trim();
    if (!name) throw new InvalidInputError('the 1Password account name is empty');
    // Checked before it is stored: without the app, nothing is saved (issue 10 §4).
    const vaultCount = await (await this.#setup()).onePassword.checkDesktopAccount(name);
    this.#store.update((draft) => {
      draft.onePassword.desktopAccount = name;
      draft.onePassword.tokenChangedAt = new Date().toISOString();
    });
    const { onePassword, resolver } = await this.#setup();
    resolver.invalidate();
    return { ...(await onePassword.status(false)), vaultCount };
  }

  async #clearToken(): Promise<TokenStatus> {
    const { onePassword, resolver } = await this.#setup();
    await onePassword.clearToken();
    this.#store.update((draft) => {
      delete draft.onePassword.desktopAccount;
      draft.onePassword.tokenChangedAt = new Date().toISOString();
    });
    resolver.invalidate();
    return onePassword.status(false);
  }

  #approvals() {
    if (!this.#engine)
      throw new InvalidInputError('approvals live in the running Keygate (keygate serve, the app)');
    return this.#engine.approvals;
  }

  async #env(name: string) {
    if (name === DEFAULT_AGENT) ensureDefaultAgent(this.#store);
    const settings = this.#store.get();
    const agent = settings.agents.find((a) => a.name === name);
    if (!agent) throw new InvalidInputError(`no agent named "${name}" (keygate agent list)`);
    const ca = await this.#caInfo();
    const running = this.#engine ? undefined : readRuntimeInfo(this.#paths.home);
    return buildAgentEnv({
      agentName: agent.name,
      token: agent.token,
      proxyHost: running?.host ?? settings.proxy.host,
      proxyPort: this.#engine?.port ?? running?.port ?? settings.proxy.port,
      caCertPath: ca.certPath,
      caBundlePath: ca.bundlePath,
      mappings: settings.mappings,
    });
  }

  async #configure({ port, denyUnmapped }: ApiRequest<'proxy.configure'>): Promise<ProxyStatus> {
    if (port !== undefined && (!Number.isInteger(port) || port < 1024 || port > 65535)) {
      // Below 1024 needs root on Linux and macOS; 0 (any free port) cannot be told to agents.
      throw new InvalidInputError(`port must be a whole number from 1024 to 65535 (got ${port})`);
    }
    const before = this.#store.get().proxy;
    this.#store.update((draft) => {
      if (port !== undefined) draft.proxy.port = port;
      if (denyUnmapped !== undefined) draft.proxy.denyUnmapped = denyUnmapped;
    });
    if (this.#engine && port !== undefined && port !== before.port) {
      try {
        await this.#engine.listenerSettled();
      } catch (err) {
        // The engine went back to the old port; so does the setting, so they keep agreeing.
        this.#store.update((draft) => {
          draft.proxy.port = before.port;
        });
        throw new InvalidInputError(
          `could not listen on port ${port}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    return this.#status();
  }

  #status(): ProxyStatus {
    const settings = this.#store.get();
    const engine = this.#engine;
    const lastError = engine?.lastError;
    const hits = engine?.budgets.hits() ?? [];
    return {
      running: engine?.address !== undefined,
      ...(engine?.address ? { address: engine.address } : {}),
      port: settings.proxy.port,
      denyUnmapped: engine?.policy.denyUnmapped ?? settings.proxy.denyUnmapped,
      mappings: settings.mappings.length,
      agents: settings.agents.length,
      injectedToday: engine?.activity.injectedToday ?? 0,
      usageToday: tokensToday(engine?.usage, this.#paths.home),
      ...(hits.length > 0 ? { budgetHits: hits.map((hit) => budgetHitView(hit, Date.now())) } : {}),
      ...(lastError ? { lastError } : {}),
    };
  }

  async #caInfo(): Promise<CaInfo> {
    const ca = this.#engine?.ca ?? (await loadOrCreateCertificateAuthority(this.#paths.caDir));
    await writeCaBundle(this.#paths.caBundle, ca.certPem);
    return {
      pem: ca.certPem,
      certPath: this.#paths.caCert,
      bundlePath: this.#paths.caBundle,
      fingerprint256: ca.fingerprint256,
      notAfter: ca.notAfter.toISOString(),
    };
  }
}
