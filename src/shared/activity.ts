/**
 * One record per proxied request or tunnel, for the UI's activity list and `keygate serve` logs.
 * It never holds a secret, an agent token, or the query string of an intercepted request.
 */
export type ActivityOutcome =
  /** A mapping matched and its credential was written into the request. */
  | 'injected'
  /** Intercepted or plain request forwarded without injection (no mapping for this path). */
  | 'forwarded'
  /** Unmapped host, bytes piped through untouched. */
  | 'tunneled'
  /** Refused by policy (auth, deny-unmapped, grants, host mismatch, plaintext). */
  | 'denied'
  /** Failed: secret unavailable, upstream TLS/connection/timeout. */
  | 'error';

export interface ActivityEvent {
  readonly id: number;
  /** ISO time the request arrived. */
  readonly at: string;
  readonly outcome: ActivityOutcome;
  readonly agent?: string;
  readonly host: string;
  readonly port: number;
  readonly method?: string;
  /** Path without the query string. */
  readonly path?: string;
  readonly status?: number;
  /** The mapping that injected (its host pattern, plus path glob if any). */
  readonly mapping?: string;
  /** `keygate_<code>` when outcome is denied or error. */
  readonly error?: string;
  readonly latencyMs?: number;
}
