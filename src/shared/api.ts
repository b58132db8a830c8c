/**
 * The one API contract. Every operation the UI or the CLI can ask of Keygate is one entry of
 * `API`: the zod schema of its request, and its response (a schema where a client checks it).
 * The types (`ApiContract`, `ApiHandlers`) are derived from it, so a missing handler is a compile
 * error, and `dispatch()` (src/engine/dispatch.ts) checks every request against its schema
 * before the handler runs, whichever transport carried it: Electron IPC (through the preload,
 * whose list of operations the build writes from this one), loopback HTTP (`keygate serve --ui`),
 * or the CLI. Imports zod: the renderer may only `import type` from here (it runs in a browser,
 * without node_modules).
 */
import { z } from 'zod';
import type { ActivityEvent } from './activity.js';
import type { AgentBudget, InjectorConfig } from './settings-schema.js';
import { usageListRequestSchema } from './usage-request.js';

/** Shapes only: what each field means and which values it may take is buildMapping's to say. */
export const mappingInputSchema = z.object({
  host: z.string(),
  ref: z.string(),
  preset: z.string().optional(),
  bearer: z.boolean().optional(),
  header: z.string().optional(),
  format: z.string().optional(),
  apiKeyHeader: z.string().optional(),
  basicUserRef: z.string().optional(),
  query: z.string().optional(),
  path: z.string().optional(),
  port: z.number().optional(),
  account: z.string().optional(),
  allowPlaintext: z.boolean().optional(),
});
export type MappingInput = z.infer<typeof mappingInputSchema>;

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

/**
 * Budget fields of agents.add and agents.set: a number sets the limit, null (set only) clears it.
 * Shapes only; budgets/budget-input.ts checks the values with the settings schema's rules.
 */
const agentBudgetInputShape = {
  maxRequestsPerHour: z.number().nullable().optional(),
  maxTokensPerDay: z.number().nullable().optional(),
  /** The limits are this mapping's own (by name, `keygate map list`), not the agent's. */
  mapping: z.string().optional(),
};
export type AgentBudgetInput = z.infer<z.ZodObject<typeof agentBudgetInputShape>>;

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
  /**
   * Where the service-account token comes from: `env` (OP_SERVICE_ACCOUNT_TOKEN), `file` (stored
   * by Keygate, encrypted: the app's safeStorage record or serve's token file), `none` when only
   * desktop mode (or nothing) is set.
   */
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
const pendingApprovalSchema = z.object({
  id: z.string(),
  agent: z.string(),
  mapping: z.string(),
  /** The mapping's preset (`anthropic`, `openai`), for a friendlier label. */
  preset: z.string().optional(),
  host: z.string(),
  port: z.number(),
  method: z.string(),
  /** Origin-form path of the first request that asked, without the query. */
  path: z.string(),
  /** When the first request started waiting (ISO 8601). */
  since: z.string(),
  /** When it times out, answered with 403 keygate_approval_timeout. */
  expiresAt: z.string(),
  /** Requests waiting on this answer (concurrent ones join the first). */
  waiting: z.number(),
});
export type PendingApprovalView = z.infer<typeof pendingApprovalSchema>;

const approvalDecisionSchema = z.enum(['allow', 'always', 'deny']);
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

const approvalOutcomeSchema = z.object({
  id: z.string(),
  agent: z.string(),
  mapping: z.string(),
  host: z.string(),
  decision: approvalDecisionSchema,
  /** For `allow`: when the grant ends. */
  until: z.string().optional(),
});
export type ApprovalOutcomeView = z.infer<typeof approvalOutcomeSchema>;

/** One operation: its request schema and its response, checked (`checked`) or typed only. */
export interface Operation<Request extends z.ZodType, Response> {
  readonly request: Request;
  /** Set where a client reads the answer over a transport (the CLI's `keygate approvals`). */
  readonly response: z.ZodType<Response> | undefined;
}

function operation<Request extends z.ZodType>(request: Request) {
  return {
    /** The response's type; no client checks it at run time. */
    returns: <Response>(): Operation<Request, Response> => ({ request, response: undefined }),
    /** The response's schema, for clients that read it from another process. */
    checked: <Response extends z.ZodType>(response: Response) =>
      ({ request, response }) as Operation<Request, z.output<Response>> & {
        readonly response: Response;
      },
  };
}

/** Operations that take nothing: any object passes (its keys are dropped), anything else not. */
const NOTHING = z.object({});
type TrustAnswer = { trusted: boolean; detail?: string };
type Status = ProxyStatus;
type Token = TokenStatus;
const account = z.string().optional();

/**
 * The contract. Adding an operation is one entry here (and its handler, which the compiler asks
 * for). Request schemas check shapes; handlers check meaning (a port range, a host pattern) with
 * their own InvalidInputError.
 */
export const API = {
  'mappings.list': operation(NOTHING).returns<MappingView[]>(),
  'mappings.upsert': operation(mappingInputSchema).returns<MappingView>(),
  'mappings.remove': operation(
    z.object({ host: z.string(), path: z.string().optional() }),
  ).returns<{
    removed: number;
  }>(),
  'mappings.test': operation(z.object({ host: z.string() })).returns<MappingTestResult[]>(),
  'agents.list': operation(NOTHING).returns<AgentView[]>(),
  'agents.add': operation(
    z.object({
      name: z.string(),
      hosts: z.array(z.string()).optional(),
      ask: z.boolean().optional(),
      ...agentBudgetInputShape,
    }),
  ).returns<{ agent: AgentView; token: string }>(),
  'agents.set': operation(
    z.object({ name: z.string(), ask: z.boolean().optional(), ...agentBudgetInputShape }),
  ).returns<AgentView>(),
  'agents.remove': operation(z.object({ name: z.string() })).returns<{ removed: boolean }>(),
  'agents.env': operation(z.object({ name: z.string().optional() })).returns<AgentEnv>(),
  'proxy.status': operation(NOTHING).returns<Status>(),
  'proxy.setEnabled': operation(z.object({ enabled: z.boolean() })).returns<Status>(),
  /** Saves the port (1024-65535; the listener moves to it) and/or the unmapped-host policy. */
  'proxy.configure': operation(
    z.object({ port: z.number().optional(), denyUnmapped: z.boolean().optional() }),
  ).returns<Status>(),
  'activity.recent': operation(z.object({ limit: z.number().optional() })).returns<
    ActivityEvent[]
  >(),
  'usage.list': operation(usageListRequestSchema).returns<UsageRowView[]>(),
  /** Needs the running engine (serve, the app): pending approvals live in its memory. */
  'approvals.list': operation(NOTHING).checked(z.array(pendingApprovalSchema)),
  /** `forSeconds` only with `allow` (default 8 hours). */
  'approvals.decide': operation(
    z.object({
      id: z.string(),
      decision: approvalDecisionSchema,
      forSeconds: z.number().optional(),
    }),
  ).checked(approvalOutcomeSchema),
  'ca.info': operation(NOTHING).returns<CaInfo>(),
  'doctor.run': operation(NOTHING).returns<DoctorCheck[]>(),
  // SECRET: never log. The request carries the service-account token.
  'token.set': operation(z.object({ token: z.string() })).returns<Token>(),
  'token.useDesktop': operation(z.object({ accountName: z.string() })).returns<Token>(),
  'token.status': operation(NOTHING).returns<Token>(),
  'token.clear': operation(NOTHING).returns<Token>(),
  'onepassword.vaults': operation(z.object({ account })).returns<VaultView[]>(),
  'onepassword.items': operation(z.object({ vaultId: z.string(), account })).returns<ItemView[]>(),
  'onepassword.suggestions': operation(z.object({ account })).returns<ImportSuggestionView[]>(),
  // App-only (APP_ONLY_OPERATIONS): they need Electron or the login keychain; serve refuses them.
  'app.launchAtLogin': operation(z.object({ enabled: z.boolean().optional() })).returns<{
    enabled: boolean;
  }>(),
  'ca.trustState': operation(NOTHING).returns<TrustAnswer>(),
  'ca.trust': operation(NOTHING).returns<TrustAnswer>(),
} satisfies Record<string, Operation<z.ZodType, unknown>>;

export type ApiOperation = keyof typeof API;

/** `void` for operations that take nothing, so callers write `handlers['proxy.status']()`. */
type RequestOf<S extends z.ZodType> = string extends keyof z.output<S> ? void : z.output<S>;

export type ApiContract = {
  [K in ApiOperation]: {
    request: RequestOf<(typeof API)[K]['request']>;
    response: (typeof API)[K] extends Operation<z.ZodType, infer R> ? R : never;
  };
};
export type ApiRequest<K extends ApiOperation> = ApiContract[K]['request'];
export type ApiResponse<K extends ApiOperation> = ApiContract[K]['response'];

export type ApiHandlers = {
  [K in ApiOperation]: (request: ApiRequest<K>) => Promise<ApiResponse<K>>;
};

/** Every operation, in contract order: one route or channel each. */
export const API_OPERATIONS = Object.keys(API) as ApiOperation[];

/** The operations only the app serves (src/engine/desktop/app-handlers.ts). */
export const APP_ONLY_OPERATIONS = ['app.launchAtLogin', 'ca.trustState', 'ca.trust'] as const;
export type AppOnlyOperation = (typeof APP_ONLY_OPERATIONS)[number];
export type AppOnlyHandlers = Pick<ApiHandlers, AppOnlyOperation>;

export function isApiOperation(op: unknown): op is ApiOperation {
  return typeof op === 'string' && Object.hasOwn(API, op);
}
