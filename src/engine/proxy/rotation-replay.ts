/**
 * Rotation without downtime (issue 10 §5; docs/onepassword.md, "Rotation"): when the upstream
 * answers 401 or 403 to a request that carried a cached secret, the resolver refreshes that
 * secret once (`SecretResolver.refreshAfterRejection`: single-flight, at most once per 30 s per
 * reference). If the value changed, the request is sent again with it, and the agent only ever
 * sees the second answer. Only requests with no body, or one small enough to be kept whole while
 * it streams upstream (replay-policy.ts), are replayed; otherwise the 401 passes through and the
 * agent's next request gets the new key.
 */
import type http from 'node:http';
import type { CompiledMapping } from '../rules/compiled-mapping.js';
import type { InjectionSecrets } from '../rules/injectors/types.js';
import { mayReplay, REPLAY_BODY_LIMIT } from '../secrets/replay-policy.js';
import type { ProxyContext } from './proxy-context.js';

/**
 * What a request keeps so that it can be sent again: the secrets it carried, and its body when
 * small. (Its headers are derived again from the agent's request, which does not change.)
 */
export class ReplayRecord {
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  #kept: 'none' | 'streamed' | 'buffered';

  constructor(
    req: http.IncomingMessage,
    readonly secrets: InjectionSecrets,
  ) {
    const length = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (length === undefined && !chunked) this.#kept = 'none';
    else if (chunked || Number(length) > REPLAY_BODY_LIMIT) this.#kept = 'streamed';
    else {
      this.#kept = 'buffered';
      // A second reader beside the upstream client's: it changes nothing of the flow, because
      // sendUpstream pauses the body in the same tick, before any data is emitted.
      req.on('data', (chunk: Buffer) => {
        this.#bytes += chunk.length;
        if (this.#bytes <= REPLAY_BODY_LIMIT) this.#chunks.push(chunk);
        else this.#kept = 'streamed';
      });
    }
  }

  /** The whole body, when all of it was kept and the agent finished sending it. */
  body(req: http.IncomingMessage): Buffer | undefined | 'incomplete' {
    if (this.#kept === 'none') return undefined;
    if (this.#kept === 'streamed' || !req.readableEnded) return 'incomplete';
    return Buffer.concat(this.#chunks, this.#bytes);
  }

  mayReplay(status: number, req: http.IncomingMessage): boolean {
    const body = this.body(req);
    return mayReplay({
      status,
      injectedCachedSecret: true,
      body:
        body === undefined
          ? 'none'
          : body === 'incomplete'
            ? 'streamed'
            : { bufferedBytes: body.length },
    });
  }
}

/**
 * The upstream refused the credential. Resolves to fresh secrets when a replay is worth it, or
 * undefined (pass the refusal on). Never rejects.
 */
export async function refreshedSecrets(
  context: ProxyContext,
  mapping: CompiledMapping,
  rejected: InjectionSecrets,
): Promise<InjectionSecrets | undefined> {
  const resolver = context.options.resolver;
  const primary = await resolver.refreshAfterRejection(mapping.config.ref, rejected.primary);
  if (!primary) return undefined;
  // Basic: the user name is not what rotates; the one that went out goes out again.
  return rejected.user ? { primary, user: rejected.user } : { primary };
}
