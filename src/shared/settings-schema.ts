/**
 * The settings file's schema: one source of truth for `keygate serve` (conf) and the app
 * (electron-store, which is built on conf). The file holds references to secrets, never values.
 */
import { z } from 'zod';

export const SETTINGS_SCHEMA_VERSION = 1;
export const DEFAULT_PROXY_PORT = 8790;
export const DEFAULT_PROXY_HOST = '127.0.0.1';

export const injectorSchema = z.discriminatedUnion('type', [
  /** `Authorization: Bearer <secret>` */
  z.object({ type: z.literal('bearer') }),
  /** Any header, rendered from a template that contains `{secret}`. */
  z.object({
    type: z.literal('header'),
    name: z.string().min(1),
    format: z
      .string()
      .includes('{secret}', { message: 'format must contain {secret}' })
      .default('{secret}'),
  }),
  /** `x-api-key` style: set the header and remove any `Authorization` the agent sent. */
  z.object({ type: z.literal('api-key'), name: z.string().min(1) }),
  /** `Authorization: Basic base64(user:password)`; the mapping's ref is the password. */
  z.object({ type: z.literal('basic'), userRef: z.string().min(1) }),
  /** The same with a fixed, non-secret user-id (`x-access-token` for GitHub's git endpoints). */
  z.object({ type: z.literal('basic-user'), user: z.string().min(1) }),
  /** A query parameter. */
  z.object({ type: z.literal('query'), param: z.string().min(1) }),
]);
export type InjectorConfig = z.infer<typeof injectorSchema>;

export const mappingSchema = z.object({
  /** Exact host (`api.openai.com`) or a wildcard (`*.example.com`), lower-case, ASCII (punycode). */
  host: z.string().min(1),
  /** Port the agent CONNECTs to; absent means 443 (or 80 for plaintext mappings). */
  port: z.number().int().min(1).max(65535).optional(),
  /** Optional path glob (`/v1/**`); absent means every path. */
  path: z.string().startsWith('/').optional(),
  /** Secret reference (`op://vault/item/field`, `env://VAR`). Never the secret itself. */
  ref: z.string().min(1),
  injector: injectorSchema,
  preset: z.string().optional(),
  /** 1Password account for op:// references; absent means the default account. */
  account: z.string().optional(),
  /** Allow injection over plaintext HTTP; only honoured for loopback hosts. */
  allowPlaintext: z.boolean().optional(),
});
export type Mapping = z.infer<typeof mappingSchema>;

/** Limits on what an agent may spend (issue 13); docs/agents.md, "Usage and budgets". */
export const budgetLimitsSchema = z.object({
  /** Requests admitted in any sliding hour. */
  maxRequestsPerHour: z.number().int().min(1).max(1_000_000).optional(),
  /** Input plus output tokens the upstream reported on one local day. */
  maxTokensPerDay: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
});
export type BudgetLimits = z.infer<typeof budgetLimitsSchema>;

export const agentBudgetSchema = budgetLimitsSchema.extend({
  /** Limits for one mapping (by its name, `host[:port][path]`), on top of the agent's own. */
  mappings: z.record(z.string().min(1), budgetLimitsSchema).optional(),
});
export type AgentBudget = z.infer<typeof agentBudgetSchema>;

export const agentSchema = z.object({
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash and underscore, at most 64'),
  // SECRET: never log. The agent's proxy token (256-bit, base64url).
  token: z.string().min(32),
  /** Host patterns this agent may use; absent means every mapping. */
  hosts: z.array(z.string().min(1)).optional(),
  budget: agentBudgetSchema.optional(),
  createdAt: z.string(),
  /** Ask the user before this agent first uses each mapping's secret (docs/agents.md, Approvals). */
  ask: z.boolean().optional(),
  /** "Always" answers: this agent may use the mapping's secret for this exact host. */
  grants: z
    .array(z.object({ mapping: z.string().min(1), host: z.string().min(1), at: z.string() }))
    .optional(),
});
export type Agent = z.infer<typeof agentSchema>;

export const proxySettingsSchema = z.object({
  host: z.string().default(DEFAULT_PROXY_HOST),
  port: z.number().int().min(0).max(65535).default(DEFAULT_PROXY_PORT),
  denyUnmapped: z.boolean().default(false),
  enabled: z.boolean().default(true),
});

export const onePasswordSettingsSchema = z.object({
  /**
   * Use the 1Password desktop app (Touch ID) for this account instead of a service-account token.
   * macOS only; no token is stored.
   */
  desktopAccount: z.string().min(1).optional(),
  /** Service-account reads allowed per hour: 1,000 (Teams, individual) or 10,000 (Business). */
  hourlyLimit: z.number().int().positive().optional(),
  /**
   * Bumped whenever the token changes (`keygate token set/clear`), so a running serve, which
   * watches this file, reloads the token. The token itself never lives here.
   */
  tokenChangedAt: z.string().optional(),
});
export type OnePasswordSettings = z.infer<typeof onePasswordSettingsSchema>;

export const settingsSchema = z.object({
  schemaVersion: z.number().int().min(1).default(SETTINGS_SCHEMA_VERSION),
  proxy: proxySettingsSchema.default({
    host: DEFAULT_PROXY_HOST,
    port: DEFAULT_PROXY_PORT,
    denyUnmapped: false,
    enabled: true,
  }),
  mappings: z.array(mappingSchema).default([]),
  agents: z.array(agentSchema).default([]),
  onePassword: onePasswordSettingsSchema.default({}),
});
export type Settings = z.infer<typeof settingsSchema>;
export type ProxySettings = z.infer<typeof proxySettingsSchema>;
