/**
 * Every named error Keygate throws is made by `defineError` (below): one definition gives it its
 * name, its code and its HTTP status, so a transport can report any of them the same way
 * (`keygate_<code>`, the status of the settings UI's answer) without a table of its own.
 *
 * The ones agents see extend KeygateError. Each has one status and one code, and is shaped so
 * that the agent's own library can show it (docs/security.md, "Errors the agent sees"):
 *  - JSON body `{"error": {"type": "keygate_error", "code": "keygate_<code>", "message": "…"},
 *    "message": "…"}`: the nested object is what the OpenAI and Anthropic SDKs print, the
 *    top-level `message` is for a person reading it raw;
 *  - a text body for clients that did not ask for JSON (git shows only `text/plain` bodies);
 *  - a reason phrase with a short cause (`502 Keygate: secret unavailable for api.openai.com`),
 *    since that is all Python's libraries print;
 *  - `x-should-retry: false` when a retry cannot help (both official SDKs and Claude Code honour
 *    it), `true` plus `Retry-After` (when known) for transient failures;
 *  - `X-Keygate-Error: keygate_<code>`.
 * Messages name the mapping and the cause, never a secret value.
 */
export abstract class NamedError extends Error {
  /** The HTTP status a transport answers with (400 for bad input, 500 for Keygate's fault). */
  // Set by defineError's class (or a subclass); `declare` so a subclass field is not overwritten.
  declare readonly status: number;
  /** Stable, snake_case; `keygate_<code>` on the wire. */
  declare readonly code: string;

  /** The wire form of `code`. */
  get errorId(): string {
    return `keygate_${this.code}`;
  }
}

/**
 * Node's errno code of a system error (`ENOENT`, `ERR_…`), or undefined. A named error's `code`
 * is Keygate's own (`invalid_input`), never mistaken for one.
 */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || error instanceof NamedError) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export interface ErrorDefinition {
  readonly status: number;
  readonly code: string;
  /** For errors agents see (a KeygateError parent): the reason phrase and retryability. */
  readonly traits?: ErrorTraits;
}

type ErrorParent = abstract new (...args: never[]) => NamedError;

/**
 * A named error class: `name` (also the class's own name), `code` and `status` from this one
 * definition. `parent` makes it a kind of another (AppOnlyOperationError is an InvalidInputError)
 * and gives it the parent's constructor; classes that carry more fields extend the result
 * (`class X extends defineError(…) { constructor(…) {…} }`).
 */
export function defineError<P extends ErrorParent = typeof NamedError>(
  name: string,
  definition: ErrorDefinition,
  parent?: P,
): new (...args: ConstructorParameters<P>) => InstanceType<P> {
  const Base = (parent ?? NamedError) as unknown as new (...args: unknown[]) => NamedError;
  const cls = class extends Base {
    override readonly status = definition.status;
    override readonly code = definition.code;
    protected readonly traits = definition.traits;
    constructor(...args: unknown[]) {
      super(...args);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls as never;
}

export abstract class KeygateError extends NamedError {
  /** Per class: the reason-phrase cause and whether a retry can help. */
  declare protected readonly traits: ErrorTraits;
  readonly #retryAfterMs: number | undefined;

  constructor(message: string, options?: KeygateErrorOptions) {
    super(message, options);
    this.#retryAfterMs = options?.retryAfterMs;
  }

  /** Whether sending the same request again could succeed (`x-should-retry`). */
  get retryable(): boolean {
    const { retryable } = this.traits;
    return typeof retryable === 'function' ? retryable(this.cause) : retryable;
  }

  /** Whole seconds to wait before a retry, when Keygate knows (`Retry-After`, RFC 9110 §10.2.3). */
  get retryAfterSeconds(): number | undefined {
    if (!this.retryable) return undefined;
    const ms = this.#retryAfterMs ?? retryAfterOf(this.cause);
    return ms === undefined || ms <= 0 ? undefined : Math.ceil(ms / 1000);
  }

  /** A few words on the cause, for the reason phrase: `Keygate: secret unavailable for HOST`. */
  summary(host?: string): string {
    return `Keygate: ${this.traits.summary(host)}`;
  }

  toBody(): string {
    return JSON.stringify({
      error: { type: 'keygate_error', code: this.errorId, message: this.message },
      message: this.message,
    });
  }

  /** The body for clients that did not ask for JSON: one line a person can act on. */
  toText(): string {
    return `Keygate: ${this.message} (${this.errorId})\n`;
  }
}

export interface KeygateErrorOptions extends ErrorOptions {
  /** How long the agent should wait before retrying, when known. */
  retryAfterMs?: number;
}

export interface ErrorTraits {
  /** The reason-phrase cause, with the host when known. */
  summary(host?: string): string;
  /** Whether a retry can help; a function decides from the error's cause. */
  retryable: boolean | ((cause: unknown) => boolean);
}

/** `host` appended as `for HOST` when known. */
function about(words: string): ErrorTraits['summary'] {
  return (host) => (host ? `${words} for ${host}` : words);
}

const NEVER = false;
const TRANSIENT = true;

/**
 * A secret that failed to resolve because its source was down, slow or rate-limited may resolve
 * on a retry; one whose variable or item does not exist will not, until the user acts. Read
 * from the resolver's error (`SecretResolutionError.kind`) without importing it.
 */
function transientSecretFailure(cause: unknown): boolean {
  const kind = (cause as { kind?: unknown } | undefined)?.kind;
  return kind === 'transient' || kind === 'timeout' || kind === 'cooldown';
}

function retryAfterOf(cause: unknown): number | undefined {
  const ms = (cause as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) ? ms : undefined;
}

/** An error agents see: a KeygateError with its reason phrase and retryability. */
function agentError(status: number, code: string, name: string, traits: ErrorTraits) {
  return defineError(name, { status, code, traits }, KeygateError);
}

/** 400: the request is not something a proxy can act on. */
export const BadProxyRequestError = agentError(400, 'bad_request', 'BadProxyRequestError', {
  summary: () => 'bad proxy request',
  retryable: NEVER,
});
/** 407: missing or invalid agent token. */
export const AgentAuthRequiredError = agentError(
  407,
  'proxy_auth_required',
  'AgentAuthRequiredError',
  { summary: () => 'agent token missing or invalid', retryable: NEVER },
);
/** 403: `--deny-unmapped` refused an unmapped host. */
export const HostDeniedError = agentError(403, 'host_denied', 'HostDeniedError', {
  summary: (host) => (host ? `${host} is not mapped (deny-unmapped)` : 'unmapped host refused'),
  retryable: NEVER,
});
/** 403: the agent is limited to other hosts (`agent add --hosts`). */
export const HostNotGrantedError = agentError(403, 'host_not_granted', 'HostNotGrantedError', {
  summary: (host) => `agent not granted ${host ?? 'this host'}`,
  retryable: NEVER,
});
/** 403: a mapped host asked for over plaintext HTTP; the secret would travel in the clear. */
export const PlaintextRefusedError = agentError(403, 'plaintext_refused', 'PlaintextRefusedError', {
  summary: about('plaintext refused'),
  retryable: NEVER,
});
/** 421: the Host header names another host than the CONNECT target (RFC 9110 §15.5.20). */
export const HostMismatchError = agentError(421, 'host_mismatch', 'HostMismatchError', {
  summary: () => 'Host differs from the CONNECT target',
  retryable: NEVER,
});
/** 502: the mapped secret could not be resolved. */
export const SecretUnavailableError = agentError(
  502,
  'secret_unavailable',
  'SecretUnavailableError',
  { summary: about('secret unavailable'), retryable: transientSecretFailure },
);
/** 502: the upstream's certificate did not verify; nothing was sent. */
export const UpstreamTlsError = agentError(502, 'upstream_tls', 'UpstreamTlsError', {
  summary: (host) => `certificate of ${host ?? 'the upstream'} not trusted`,
  retryable: NEVER,
});
/** 502: the upstream refused, reset, or could not be found. */
export const UpstreamUnreachableError = agentError(
  502,
  'upstream_unreachable',
  'UpstreamUnreachableError',
  { summary: (host) => `${host ?? 'upstream'} unreachable`, retryable: TRANSIENT },
);
/** 504: the upstream did not answer in time. */
export const UpstreamTimeoutError = agentError(504, 'upstream_timeout', 'UpstreamTimeoutError', {
  summary: (host) => `${host ?? 'upstream'} did not answer in time`,
  retryable: TRANSIENT,
});
/**
 * 403: the user denied this agent the mapping's secret (approvals, docs/agents.md). Never
 * retryable: the same request asks again only after the denial is forgotten (30 s).
 */
export const ApprovalDeniedError = agentError(403, 'approval_denied', 'ApprovalDeniedError', {
  summary: about('approval denied'),
  retryable: NEVER,
});
/** 403: nobody answered the approval in time (`serve --approval-timeout`). Never retryable. */
export const ApprovalTimeoutError = agentError(403, 'approval_timeout', 'ApprovalTimeoutError', {
  summary: about('approval timed out'),
  retryable: NEVER,
});
/**
 * 429: too many requests already wait for the user's answer (per agent or in all). Retryable:
 * once the user answers the pending ones, the same request goes through or asks.
 */
export const ApprovalBusyError = agentError(429, 'approval_busy', 'ApprovalBusyError', {
  summary: about('too many requests wait for approval'),
  retryable: TRANSIENT,
});
/**
 * 499 (nginx's "client closed request"): the agent left before Keygate could answer. Never sent,
 * since nobody is there to read it; it names the outcome in the activity record.
 */
const AGENT_CLOSED: ErrorTraits = {
  summary: () => 'agent closed the connection',
  retryable: NEVER,
};
export const AgentClosedError = agentError(499, 'agent_closed', 'AgentClosedError', AGENT_CLOSED);
/**
 * The agent closed its side during Keygate's TLS handshake, without a TLS alert. `afterHello`: it
 * had sent its ClientHello, so it saw Keygate's certificate (a Node client that does not trust
 * the CA does exactly this); without one it gave up a spare connection
 * (proxy/handshake-failure.ts says which is worth a hint).
 */
export class HandshakeAbandonedError extends defineError(
  'HandshakeAbandonedError',
  { status: 499, code: 'agent_closed', traits: AGENT_CLOSED },
  AgentClosedError,
) {
  constructor(readonly afterHello: boolean) {
    super('the agent closed the connection during the TLS handshake');
  }
}

/** Errors in settings, CLI input and the contract; never sent to agents. */
export class InvalidInputError extends defineError('InvalidInputError', {
  status: 400,
  code: 'invalid_input',
}) {}

/**
 * A request that does not match its operation's schema (src/shared/api.ts), whichever transport
 * carried it: the one error `dispatch()` raises before any handler runs.
 */
export class InvalidRequestError extends defineError(
  'InvalidRequestError',
  { status: 400, code: 'invalid_request' },
  InvalidInputError,
) {}

/** An operation only the macOS app can perform (login item, keychain trust). */
export class AppOnlyOperationError extends defineError(
  'AppOnlyOperationError',
  { status: 400, code: 'app_only' },
  InvalidInputError,
) {}

export class SettingsError extends defineError('SettingsError', {
  status: 500,
  code: 'settings',
}) {}
