/**
 * The one API contract. Every operation the UI or the CLI can ask of Keygate is declared here
 * once, with its request and response types. Three transports carry it: Electron IPC (through
 * the preload), loopback HTTP (`keygate serve --ui`), and direct calls from the CLI.
 * `ApiHandlers` makes a missing handler a compile error.
 */
import type { ActivityEvent } from './activity.js';
import type { AgentBudget, InjectorConfig } from './settings-schema.js';
import type { UsageListRequest } from './usage-request.js';

export interface MappingInput {
  host: string;
  ref: string;
  preset?: string;
  bearer?: boolean;
  header?: string;
  format?: string;
  apiKeyHeader?: string;
  basicUserRef?: string;
  query?: string;
  path?: string;
  port?: number;
  account?: string;
  allowPlaintext?: boolean;
}

export interface MappingView {
  /** Stable name: host pattern, plus :port and path glob when set. */
  name: string;
  host: string;
  port?: number;
  path?: string;
  ref: string;
  injector: InjectorConfig;
  preset?: string;
  account?: string;
  allowPlaintext?: boolean;
  /** Human summary, e.g. "Authorization: Bearer <env://OPENAI_KEY>". */
  explain: string;
  /** Set while the reference fails to resolve (item deleted, field renamed, access revoked). */
  stale?: string;
}

export interface MappingTestResult {
  name: string;
  ok: boolean;
  /** Non-reversible fingerprint of the resolved value; never the value. */
  fingerprint?: string;
  length?: number;
  reason?: string;
}

export interface AgentView {
  name: string;
  hosts?: string[];
  /** Asks the user before its first use of each mapping's secret. */
  ask?: boolean;
  /** Its limits (`--max-requests N/h`, `--max-tokens N/d`), and per mapping under `mappings`. */
  budget?: AgentBudget;
  createdAt: string;
}

/** Budget fields of agents.add and agents.set: a number sets the limit, null (set only) clears it. */
export interface AgentBudgetInput {
  maxRequestsPerHour?: number | null;
  maxTokensPerDay?: number | null;
  /** The limits are this mapping's own (by name, `keygate map list`), not the agent's. */
  mapping?: string;
}

/** A budget refusing requests right now (429 keygate_budget_exceeded). */
export interface BudgetHitView {
  agent: string;
  mapping?: string;
  kind: 'requests' | 'tokens';
  limit: number;
  used: number;
  /** When the window frees (ISO 8601). */
  until: string;
}

/** Requests and tokens of one agent × mapping × model on one local day (docs/agents.md). */
export interface UsageRowView {
  /** Local day, YYYY-MM-DD. */
  day: string;
  agent: string;
  mapping: string;
  model: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
}

export interface EnvVariable {
  name: string;
  value: string;
}

export interface AgentEnv {
  agent: string;
  variables: EnvVariable[];
  /** Every variable name Keygate manages, both cases; `keygate run` strips inherited copies. */
  managed: string[];
  /**
   * The variables `env://` mappings read (serve's secrets): `keygate run` never passes them to
   * the agent, so it cannot hold the real key.
   */
  secretVariables?: string[];
}

export interface ProxyStatus {
  running: boolean;
  address?: string;
  /** The port in settings: the listener's, unless `keygate serve --port` pins another. */
  port: number;
  denyUnmapped: boolean;
  mappings: number;
  agents: number;
  injectedToday: number;
  /** Input plus output tokens every agent used today (local day). */
  usageToday: number;
  /** Budgets refusing requests right now. */
  budgetHits?: BudgetHitView[];
  lastError?: string;
}

export interface CaInfo {
  /** The CA certificate (public), for "Export". */
  pem: string;
  certPath: string;
  bundlePath: string;
  fingerprint256: string;
  notAfter: string;
}

/**
 * What is wrong with a 1Password account, as data (alerts and the UI title it; docs/onepassword.md
 * has the table): sign-in refused, 1Password unreachable or silent, the hourly rate limit, the app
 * locked or missing, a server error, or the stored token unreadable.
 */
export type OnePasswordProblem =
  | 'sign-in'
  | 'unreachable'
  | 'rate-limit'
  | 'locked'
  | 'app-missing'
  | 'unavailable'
  | 'token-store';

export interface OnePasswordAccountStatus {
  account: string;
  mode: 'service-account' | 'desktop';
  connected: boolean;
  lastSuccessAt?: string;
  lastError?: string;
  /** What `lastError` means, when it is about the account. */
  problem?: OnePasswordProblem;
  readsThisHour: number;
  hourlyLimit: number;
}

export interface TokenStatus {
  /** Where the service-account token comes from; `none` when only desktop mode (or nothing) is set. */
  tokenSource: 'env' | 'file' | 'none';
  desktopAccount?: string;
  /** Vaults the default account can see, when it was reachable just now. */
  vaultCount?: number;
  accounts: OnePasswordAccountStatus[];
  /** Why the account could not be reached just now, if it could not. */
  error?: string;
}

export interface VaultView {
  id: string;
  title: string;
}

export interface ItemView {
  id: string;
  title: string;
  category: string;
  vaultId: string;
  /** Field names and types only; never values. */
  fields: Array<{ id: string; title: string; type: string; section?: string; ref: string }>;
}

export interface ImportSuggestionView {
  host: string;
  ref: string;
  vault: string;
  item: string;
  /** A preset whose host matches, if any. */
  preset?: string;
}

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** A request held until the user answers (docs/agents.md, Approvals). Never a query string. */
export interface PendingApprovalView {
  id: string;
  agent: string;
  mapping: string;
  /** The mapping's preset (`anthropic`, `openai`), for a friendlier label. */
  preset?: string;
  host: string;
  port: number;
  method: string;
  /** Origin-form path of the first request that asked, without the query. */
  path: string;
  /** When the first request started waiting (ISO 8601). */
  since: string;
  /** When it times out, answered with 403 keygate_approval_timeout. */
  expiresAt: string;
  /** Requests waiting on this answer (concurrent ones join the first). */
  waiting: number;
}

export type ApprovalDecision = 'allow' | 'always' | 'deny';

export interface ApprovalOutcomeView {
  id: string;
  agent: string;
  mapping: string;
  host: string;
  decision: ApprovalDecision;
  /** For `allow`: when the grant ends. */
  until?: string;
}

export interface ApiContract {
  'mappings.list': { request: void; response: MappingView[] };
  'mappings.upsert': { request: MappingInput; response: MappingView };
  'mappings.remove': { request: { host: string; path?: string }; response: { removed: number } };
  'mappings.test': { request: { host: string }; response: MappingTestResult[] };
  'agents.list': { request: void; response: AgentView[] };
  'agents.add': {
    request: { name: string; hosts?: string[]; ask?: boolean } & AgentBudgetInput;
    response: { agent: AgentView; token: string };
  };
  'agents.set': {
    request: { name: string; ask?: boolean } & AgentBudgetInput;
    response: AgentView;
  };
  'agents.remove': { request: { name: string }; response: { removed: boolean } };
  'agents.env': { request: { name?: string }; response: AgentEnv };
  'proxy.status': { request: void; response: ProxyStatus };
  'proxy.setEnabled': { request: { enabled: boolean }; response: ProxyStatus };
  /** Saves the port (1024-65535; the listener moves to it) and/or the unmapped-host policy. */
  'proxy.configure': {
    request: { port?: number; denyUnmapped?: boolean };
    response: ProxyStatus;
  };
  'activity.recent': { request: { limit?: number }; response: ActivityEvent[] };
  /** Validated by usageListRequestSchema (usage-request.ts: zod stays out of the browser bundle). */
  'usage.list': { request: UsageListRequest; response: UsageRowView[] };
  /** Needs the running engine (serve, the app): pending approvals live in its memory. */
  'approvals.list': { request: void; response: PendingApprovalView[] };
  /** `forSeconds` only with `allow` (default 8 hours). */
  'approvals.decide': {
    request: { id: string; decision: ApprovalDecision; forSeconds?: number };
    response: ApprovalOutcomeView;
  };
  'ca.info': { request: void; response: CaInfo };
  'doctor.run': { request: void; response: DoctorCheck[] };
  // SECRET: never log. The request carries the service-account token.
  'token.set': { request: { token: string }; response: TokenStatus };
  'token.useDesktop': { request: { accountName: string }; response: TokenStatus };
  'token.status': { request: void; response: TokenStatus };
  'token.clear': { request: void; response: TokenStatus };
  'onepassword.vaults': { request: { account?: string }; response: VaultView[] };
  'onepassword.items': { request: { vaultId: string; account?: string }; response: ItemView[] };
  'onepassword.suggestions': { request: { account?: string }; response: ImportSuggestionView[] };
  // App-only: they need Electron or the login keychain; `keygate serve` refuses them.
  'app.launchAtLogin': { request: { enabled?: boolean }; response: { enabled: boolean } };
  'ca.trustState': {
    request: Record<string, never>;
    response: { trusted: boolean; detail?: string };
  };
  'ca.trust': { request: Record<string, never>; response: { trusted: boolean; detail?: string } };
}

export type ApiOperation = keyof ApiContract;
export type ApiRequest<K extends ApiOperation> = ApiContract[K]['request'];
export type ApiResponse<K extends ApiOperation> = ApiContract[K]['response'];

export type ApiHandlers = {
  [K in ApiOperation]: (request: ApiRequest<K>) => Promise<ApiResponse<K>>;
};

/** Runtime list of operations, for transports that register one route or channel per operation. */
export const API_OPERATIONS = [
  'mappings.list',
  'mappings.upsert',
  'mappings.remove',
  'mappings.test',
  'agents.list',
  'agents.add',
  'agents.set',
  'agents.remove',
  'agents.env',
  'proxy.status',
  'proxy.setEnabled',
  'proxy.configure',
  'activity.recent',
  'usage.list',
  'approvals.list',
  'approvals.decide',
  'ca.info',
  'doctor.run',
  'token.set',
  'token.useDesktop',
  'token.status',
  'token.clear',
  'onepassword.vaults',
  'onepassword.items',
  'onepassword.suggestions',
  'app.launchAtLogin',
  'ca.trustState',
  'ca.trust',
] as const satisfies readonly ApiOperation[];

// Compile-time proof that API_OPERATIONS lists every operation: a missing one makes this `false`.
type MissingOperations = Exclude<ApiOperation, (typeof API_OPERATIONS)[number]>;
export const API_OPERATIONS_COMPLETE: [MissingOperations] extends [never] ? true : false = true;
