/**
 * The contract's handlers (src/shared/api.ts): what the CLI calls directly, and what the app's
 * IPC and `serve --ui`'s HTTP transport will route to. Works with or without a running engine:
 * `keygate map add` edits the settings file, and a running `keygate serve` picks the change up.
 */
import { access } from 'node:fs/promises';
import http from 'node:http';
import type {
  AgentBudgetInput,
  AgentView,
  ApiHandlers,
  AppOnlyHandlers,
  ApiRequest,
  CaInfo,
  DoctorCheck,
  MappingInput,
  MappingTestResult,
  MappingView,
  ProxyStatus,
  TokenStatus,
} from '../shared/api.js';
import type { Agent, Mapping } from '../shared/settings-schema.js';
import { buildAgentEnv, dialableHost } from './agent-env.js';
import {
  applyBudgetInput,
  budgetHitView,
  budgetView,
  hasBudgetInput,
} from './budgets/budget-input.js';
import { AppOnlyOperationError, InvalidInputError } from './errors.js';
import { homePaths, type HomePaths } from './home.js';
import type { KeygateEngine } from './keygate-engine.js';
import { CompiledMapping, mappingRefs } from './rules/compiled-mapping.js';
import { HostMatcher } from './rules/host-pattern.js';
import { buildMapping } from './rules/mapping-input.js';
import { Secret } from './secrets/secret.js';
import type { SecretResolutionKind } from './secrets/secret-resolver.js';
import { refForError } from './secrets/reference-display.js';
import { SecretSourceError } from './secrets/secret-source.js';
import { PairingError } from './secrets/onepassword/pairing.js';
import { createSecretSetup, type SecretSetup } from './secrets/secret-setup.js';
import {
  DEFAULT_AGENT,
  ensureDefaultAgent,
  newAgent,
  validateAgentName,
} from './settings/agents.js';
import type { SettingsStore } from './settings/settings-store.js';
import { writeCaBundle } from './tls/ca-bundle.js';
import { loadOrCreateCertificateAuthority } from './tls/index.js';
import { portBindable } from './port-probe.js';
import { readRuntimeInfo } from './runtime-file.js';
import { tokensToday, usageRows } from './usage/usage-summary.js';
import { trustCommandLine } from '../shared/trust-command-line.js';

function isReferenceProblem(kind: SecretResolutionKind | undefined): boolean {
  return kind === 'not-found' || kind === 'invalid-ref';
}

/** The live check before saving an op:// mapping; the SDK alone can hang for minutes. */
const LIVE_CHECK_TIMEOUT_MS = 10_000;

export interface ControllerOptions {
  readonly store: SettingsStore;
  readonly home: string;
  /** The running engine, when there is one in this process (serve, the app). */
  readonly engine?: KeygateEngine;
  /** Sources and resolver when no engine runs here (default: env:// and op:// over this home). */
  readonly secrets?: SecretSetup;
}

export function mappingView(mapping: Mapping): MappingView {
  const compiled = new CompiledMapping(mapping);
  return {
    ...structuredClone(mapping),
    name: compiled.name,
    explain: compiled.explain(),
  } as MappingView;
}

function agentView(agent: Agent): AgentView {
  return {
    name: agent.name,
    ...(agent.hosts ? { hosts: [...agent.hosts] } : {}),
    ...(agent.ask ? { ask: true } : {}),
    ...(agent.budget ? { budget: budgetView(agent.budget) } : {}),
    createdAt: agent.createdAt,
  };
}

const mappingNames = (mappings: readonly Mapping[]) =>
  mappings.map((m) => new CompiledMapping(m).name);

function sameSlot(a: Mapping, b: Mapping): boolean {
  return (
    a.host === b.host && (a.port ?? 443) === (b.port ?? 443) && (a.path ?? '') === (b.path ?? '')
  );
}

export class Controller {
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
  }

  /** Created on first use: commands that never resolve never read the token. */
  #setup(): Promise<SecretSetup> {
    this.#secrets ??= createSecretSetup({
      home: this.#paths.home,
      settings: () => this.#store.get(),
    });
    return this.#secrets;
  }

  readonly handlers: ApiHandlers = {
    'mappings.list': async () => this.#listMappings(),
    'mappings.upsert': async (input) => this.#upsert(input),
    'mappings.remove': async ({ host, path }) => this.#remove(host, path),
    'mappings.test': async ({ host }) => this.#test(host),
    'agents.list': async () => this.#store.get().agents.map(agentView),
    'agents.add': async ({ name, hosts, ask, ...budget }) =>
      this.#addAgent(name, hosts, ask, budget),
    'agents.set': async ({ name, ask, ...budget }) => this.#setAgent(name, ask, budget),
    'agents.remove': async ({ name }) => this.#removeAgent(name),
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
    'doctor.run': async () => this.#doctor(),
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

  /** APP_ONLY_OPERATIONS: the app lays its own handlers over these (engine/desktop/app-handlers.ts). */
  #appOnlyRefusals(): AppOnlyHandlers {
    // Messages are made on the call: the handlers are built before the constructor sets #paths.
    const refuse = (message: () => string) => async (): Promise<never> => {
      throw new AppOnlyOperationError(message());
    };
    return {
      'app.launchAtLogin': refuse(() => 'launch at login is a setting of the macOS app'),
      'ca.trustState': refuse(() => 'keychain trust is managed by the macOS app'),
      'ca.trust': refuse(
        () =>
          `trust the CA with \`keygate ca trust\` on the Mac, or: ${trustCommandLine(this.#paths.caCert)}`,
      ),
    };
  }

  async #listMappings(): Promise<MappingView[]> {
    const { resolver } = await this.#setup();
    // Without an engine here (a CLI command), this process has resolved nothing yet: the stale
    // flags worth showing are those of the running serve, from serve.json.
    const runningStale = this.#engine ? undefined : readRuntimeInfo(this.#paths.home)?.stale;
    return this.#store.get().mappings.map((mapping) => {
      const view = mappingView(mapping);
      // Stale is about the reference (item deleted, field renamed, access revoked), not about
      // reaching 1Password: an outage shows on the account's status, not on every mapping.
      const refs = mappingRefs(mapping);
      const stale = refs
        .map((ref) => resolver.status(ref))
        .find((status) => status.state === 'failing' && isReferenceProblem(status.kind));
      if (stale) return { ...view, stale: stale.reason ?? 'does not resolve' };
      const seenByServe = runningStale?.[view.name];
      return seenByServe ? { ...view, stale: seenByServe } : view;
    });
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

  async #upsert(input: MappingInput): Promise<MappingView> {
    const { resolver, onePassword } = await this.#setup();
    const mapping = buildMapping(input, (ref) => resolver.validate(ref));
    // Live check for op:// when an account is connected: a reference that does not resolve is
    // refused with 1Password's reason. An unreachable 1Password does not block saving.
    // (env:// is not checked here: it resolves in serve's environment, not this one.)
    const refs = mappingRefs(mapping);
    for (const ref of refs.filter((r) => r.startsWith('op://'))) {
      if (!onePassword.connected) break;
      try {
        // With the account this mapping names: the resolver would pick the account of whatever
        // saved mapping already uses the reference (or the default one), not this one's.
        await onePassword.source.resolveForAccount(
          mapping.account,
          ref,
          AbortSignal.timeout(LIVE_CHECK_TIMEOUT_MS),
        );
      } catch (err) {
        if (err instanceof SecretSourceError && err.kind === 'not-found') {
          throw new InvalidInputError(`${ref} does not resolve: ${err.message}`);
        }
      }
    }
    this.#store.update((draft) => {
      const index = draft.mappings.findIndex((existing) => sameSlot(existing, mapping));
      if (index >= 0) draft.mappings[index] = mapping;
      else draft.mappings.push(mapping);
    });
    // A value cached for these references may have come from another account.
    for (const ref of refs) resolver.invalidate(ref);
    return mappingView(mapping);
  }

  #remove(host: string, path: string | undefined): { removed: number } {
    const pattern = new HostMatcher(host.trim()).pattern;
    let removed = 0;
    this.#store.update((draft) => {
      const kept = draft.mappings.filter(
        (m) => !(m.host === pattern && (path === undefined || m.path === path)),
      );
      removed = draft.mappings.length - kept.length;
      draft.mappings = kept;
    });
    return { removed };
  }

  async #test(host: string): Promise<MappingTestResult[]> {
    const pattern = new HostMatcher(host.trim()).pattern;
    const mappings = this.#store.get().mappings.filter((m) => m.host === pattern);
    if (mappings.length === 0)
      throw new InvalidInputError(`no mapping for ${pattern} (keygate map list)`);
    return Promise.all(
      mappings.map(async (mapping): Promise<MappingTestResult> => {
        const name = new CompiledMapping(mapping).name;
        try {
          const { resolver } = await this.#setup();
          const [primary, ...others] = mappingRefs(mapping);
          const secret = await resolver.resolve(primary ?? mapping.ref);
          for (const ref of others) await resolver.resolve(ref);
          return { name, ok: true, fingerprint: secret.fingerprint(), length: secret.length };
        } catch (err) {
          return { name, ok: false, reason: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  }

  #approvals() {
    if (!this.#engine)
      throw new InvalidInputError('approvals live in the running Keygate (keygate serve, the app)');
    return this.#engine.approvals;
  }

  #setAgent(name: string, ask: boolean | undefined, budget: AgentBudgetInput): AgentView {
    validateAgentName(name);
    let found: Agent | undefined;
    this.#store.update((draft) => {
      const agent = draft.agents.find((a) => a.name === name);
      if (!agent) throw new InvalidInputError(`no agent named "${name}" (keygate agent list)`);
      if (ask === true) agent.ask = true;
      // Turning asking off keeps the "Always" grants, so turning it on again asks only anew.
      else if (ask === false) delete agent.ask;
      if (hasBudgetInput(budget)) applyBudgetInput(agent, budget, mappingNames(draft.mappings));
      found = agent;
    });
    return agentView(found!);
  }

  #addAgent(
    name: string,
    hosts: readonly string[] | undefined,
    ask: boolean | undefined,
    budget: AgentBudgetInput,
  ): { agent: AgentView; token: string } {
    const agent = { ...newAgent(name, hosts), ...(ask ? { ask: true } : {}) };
    applyBudgetInput(agent, budget, mappingNames(this.#store.get().mappings));
    this.#store.update((draft) => {
      if (draft.agents.some((a) => a.name === name)) {
        throw new InvalidInputError(
          `agent "${name}" already exists (keygate agent rm ${name} first)`,
        );
      }
      draft.agents.push(agent);
    });
    return { agent: agentView(agent), token: agent.token };
  }

  #removeAgent(name: string): { removed: boolean } {
    validateAgentName(name);
    let removed = false;
    this.#store.update((draft) => {
      const kept = draft.agents.filter((a) => a.name !== name);
      removed = kept.length !== draft.agents.length;
      draft.agents = kept;
    });
    return { removed };
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

  async #doctor(): Promise<DoctorCheck[]> {
    const settings = this.#store.get();
    const checks: DoctorCheck[] = [];
    const running = readRuntimeInfo(this.#paths.home);
    checks.push(
      await this.#checkPort(
        running?.host ?? settings.proxy.host,
        running?.port ?? settings.proxy.port,
      ),
    );
    checks.push(await this.#checkCa());
    const usesOnePassword = settings.mappings.some((m) =>
      mappingRefs(m).some((ref) => ref.startsWith('op://')),
    );
    // An unreadable stored token is reported even before any op:// mapping exists.
    if (usesOnePassword || (await this.#setup()).onePassword.tokenStoreError !== undefined)
      checks.push(await this.#checkOnePassword());
    if (settings.mappings.length === 0) {
      checks.push({
        name: 'mappings',
        ok: true,
        detail: 'no mappings yet (keygate map add HOST REF)',
      });
    }
    for (const mapping of settings.mappings) {
      const name = `mapping ${mapping.host}${mapping.path ?? ''}`;
      const refs = mappingRefs(mapping);
      for (const ref of refs) {
        const check = (await this.#setup()).resolver.validate(ref);
        if (!check.ok) {
          checks.push({
            name,
            ok: false,
            detail: `${refForError(ref)}: ${check.reason ?? 'invalid reference'}`,
          });
          continue;
        }
        if (ref.startsWith('env://')) {
          const variable = ref.slice('env://'.length);
          const present = Boolean(process.env[variable]);
          checks.push({
            name,
            ok: present,
            detail: present
              ? `${ref} is set in this environment`
              : `${ref}: ${variable} is not set here; keygate serve must be started with it`,
          });
        } else {
          checks.push({ name, ok: true, detail: `${ref} is well-formed` });
        }
      }
    }
    return checks;
  }

  async #checkOnePassword(): Promise<DoctorCheck> {
    const { onePassword } = await this.#setup();
    const unreadable = onePassword.tokenStoreError;
    if (unreadable !== undefined && !onePassword.connected) {
      return { name: '1password', ok: false, detail: unreadable };
    }
    if (!onePassword.connected) {
      return {
        name: '1password',
        ok: false,
        detail:
          'op:// mappings exist but no account is connected: `keygate token set` or OP_SERVICE_ACCOUNT_TOKEN',
      };
    }
    const status = await onePassword.status(true);
    if (status.error) return { name: '1password', ok: false, detail: status.error };
    return {
      name: '1password',
      ok: true,
      detail: `connected (${status.tokenSource === 'env' ? 'OP_SERVICE_ACCOUNT_TOKEN' : status.tokenSource === 'file' ? 'stored token' : 'the 1Password app'}), ${status.vaultCount ?? 0} vault(s) visible`,
    };
  }

  async #checkPort(host: string, port: number): Promise<DoctorCheck> {
    const dialHost = dialableHost(host).replace(/^\[|\]$/g, '');
    const health = await new Promise<string | undefined>((resolve) => {
      const req = http.get({ host: dialHost, port, path: '/healthz', timeout: 1000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk.slice(0, 200)));
        res.on('end', () => resolve(body));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
    });
    if (health?.includes('"service":"keygate"')) {
      return { name: 'port', ok: true, detail: `Keygate is listening on ${dialHost}:${port}` };
    }
    const free = await portBindable(dialHost, port);
    return free
      ? {
          name: 'port',
          ok: true,
          detail: `port ${port} is free; start Keygate with \`keygate serve\``,
        }
      : {
          name: 'port',
          ok: false,
          detail: `port ${port} on ${dialHost} is used by something other than Keygate`,
        };
  }

  async #checkCa(): Promise<DoctorCheck> {
    const present = await access(this.#paths.caCert).then(
      () => true,
      () => false,
    );
    if (!present)
      return {
        name: 'ca',
        ok: true,
        detail: `no CA yet; it is created at ${this.#paths.caCert} on first use`,
      };
    try {
      const info = await this.#caInfo();
      return {
        name: 'ca',
        ok: true,
        detail: `${info.certPath} (SHA-256 ${info.fingerprint256}, valid until ${info.notAfter})`,
      };
    } catch (err) {
      return { name: 'ca', ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  }
}
