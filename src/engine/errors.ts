/**
 * Errors the agent sees. Each has one status and one code; the proxy renders them as
 * `{"error": "keygate_<code>", "message": "…"}` plus `X-Keygate-Error: keygate_<code>`.
 * Messages name the mapping and the cause, never a secret value.
 */
export abstract class KeygateError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;

  /** The wire form of `code`. */
  get errorId(): string {
    return `keygate_${this.code}`;
  }

  toBody(): string {
    return JSON.stringify({ error: this.errorId, message: this.message });
  }
}

function defineError(status: number, code: string, name: string) {
  const cls = class extends KeygateError {
    readonly status = status;
    readonly code = code;
    constructor(message: string, options?: ErrorOptions) {
      super(message, options);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

/** 400: the request is not something a proxy can act on. */
export const BadProxyRequestError = defineError(400, 'bad_request', 'BadProxyRequestError');
/** 407: missing or invalid agent token. */
export const AgentAuthRequiredError = defineError(
  407,
  'proxy_auth_required',
  'AgentAuthRequiredError',
);
/** 403: `--deny-unmapped` refused an unmapped host. */
export const HostDeniedError = defineError(403, 'host_denied', 'HostDeniedError');
/** 403: the agent is limited to other hosts (`agent add --hosts`). */
export const HostNotGrantedError = defineError(403, 'host_not_granted', 'HostNotGrantedError');
/** 403: a mapped host asked for over plaintext HTTP; the secret would travel in the clear. */
export const PlaintextRefusedError = defineError(403, 'plaintext_refused', 'PlaintextRefusedError');
/** 421: the Host header names another host than the CONNECT target (RFC 9110 §15.5.20). */
export const HostMismatchError = defineError(421, 'host_mismatch', 'HostMismatchError');
/** 502: the mapped secret could not be resolved. */
export const SecretUnavailableError = defineError(
  502,
  'secret_unavailable',
  'SecretUnavailableError',
);
/** 502: the upstream's certificate did not verify; nothing was sent. */
export const UpstreamTlsError = defineError(502, 'upstream_tls', 'UpstreamTlsError');
/** 502: the upstream refused, reset, or could not be found. */
export const UpstreamUnreachableError = defineError(
  502,
  'upstream_unreachable',
  'UpstreamUnreachableError',
);
/** 504: the upstream did not answer in time. */
export const UpstreamTimeoutError = defineError(504, 'upstream_timeout', 'UpstreamTimeoutError');
/**
 * 403: the user denied this agent the mapping's secret (approvals, docs/agents.md). Never
 * retryable: the same request asks again only after the denial is forgotten (30 s).
 */
export const ApprovalDeniedError = defineError(403, 'approval_denied', 'ApprovalDeniedError');
/** 403: nobody answered the approval in time (`serve --approval-timeout`). Never retryable. */
export const ApprovalTimeoutError = defineError(403, 'approval_timeout', 'ApprovalTimeoutError');
/**
 * 429: too many requests already wait for the user's answer (per agent or in all). Retryable:
 * once the user answers the pending ones, the same request goes through or asks.
 */
export const ApprovalBusyError = defineError(429, 'approval_busy', 'ApprovalBusyError');
/**
 * 499 (nginx's "client closed request"): the agent left before Keygate could answer. Never sent,
 * since nobody is there to read it; it names the outcome in the activity record.
 */
export const AgentClosedError = defineError(499, 'agent_closed', 'AgentClosedError');

export type KeygateErrorClass = ReturnType<typeof defineError>;

/** Errors in settings, CLI input and the contract; never sent to agents. */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}

/** An operation only the macOS app can perform (login item, keychain trust). */
export class AppOnlyOperationError extends InvalidInputError {
  override name = 'AppOnlyOperationError';
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}
