/**
 * Rotation without downtime (docs/onepassword.md, "Rotation"): when the upstream answers 401 or
 * 403 to a request that carried a cached secret, the resolver refreshes that secret once
 * (`SecretResolver.refreshAfterRejection`), and the proxy may send the request again with the new
 * value. Only when that is safe and cheap: the request had no body, or one small enough that
 * Keygate kept all of it in memory. A streamed or large body is gone by then, so the 401 passes
 * through and the agent's next request gets the new key.
 */

/** Largest request body Keygate keeps to replay. Bodies of API calls are mostly far below it. */
export const REPLAY_BODY_LIMIT = 64 * 1024;

export interface ReplayCandidate {
  /** The upstream's status for the first attempt. */
  readonly status: number;
  /** Whether the request carried an injected secret that came from the cache. */
  readonly injectedCachedSecret: boolean;
  /**
   * The request body as sent: 'none', or the bytes Keygate buffered whole (their length), or
   * 'streamed' when it was not (or not all) kept.
   */
  readonly body: 'none' | 'streamed' | { readonly bufferedBytes: number };
  /** Whether this request is already a replay (never replay twice). */
  readonly replayed?: boolean;
}

/** The upstream refused the credential: worth one refresh of the secret. */
export function isCredentialRejection(status: number): boolean {
  return status === 401 || status === 403;
}

/** Whether a request refused for its credential may be sent again with a refreshed secret. */
export function mayReplay(candidate: ReplayCandidate, limit = REPLAY_BODY_LIMIT): boolean {
  if (candidate.replayed === true || !candidate.injectedCachedSecret) return false;
  if (!isCredentialRejection(candidate.status)) return false;
  const { body } = candidate;
  if (body === 'none') return true;
  if (body === 'streamed') return false;
  return (
    Number.isInteger(body.bufferedBytes) && body.bufferedBytes >= 0 && body.bufferedBytes <= limit
  );
}
