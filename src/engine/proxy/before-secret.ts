/**
 * The step every shape takes between admission and the secret (request-hooks.ts): what the hooks
 * may know of the request, and running their `beforeSecret` so that a hook that answers at once
 * costs no promise, a held request is dropped when the agent leaves, and an abort is named.
 */
import { AgentClosedError } from '../errors.js';
import type { CompiledMapping } from '../rules/compiled-mapping.js';
import type { AdmittedRequest, AgentConnection, RequestHooks } from './request-hooks.js';

/** What the hooks may know of an admitted request: never a secret, a body or a query. */
export function admittedRequest(
  decision: { readonly host: string; readonly port: number; readonly path: string } & {
    readonly agent: { readonly name: string };
  },
  mapping: CompiledMapping,
  method: string,
  shape: AdmittedRequest['shape'],
): AdmittedRequest {
  const q = decision.path.indexOf('?');
  return {
    agent: decision.agent.name,
    mapping: mapping.name,
    preset: mapping.config.preset,
    host: decision.host,
    port: decision.port,
    method,
    path: q < 0 ? decision.path : decision.path.slice(0, q),
    shape,
  };
}

/**
 * Runs the hooks' `beforeSecret`; undefined when none is set or every hook decided at once (the
 * common case costs no promise). A held request is dropped when the agent leaves: `onClose`
 * registers the abort.
 */
export function passHooks(
  hooks: RequestHooks,
  request: AdmittedRequest,
  onClose: (abort: () => void) => void,
): Promise<void> | undefined {
  const gate = hooks.beforeSecret;
  if (!gate) return undefined;
  const connection = new WatchedConnection();
  let result: Promise<void> | void;
  try {
    result = gate(request, connection);
  } catch (err) {
    return Promise.reject(asAgentClosed(err));
  }
  if (!result) return undefined;
  onClose(() => connection.close());
  return result.catch((err: unknown) => {
    throw asAgentClosed(err);
  });
}

/** The signal is made only when a hook reads it, which a hook does only when it holds. */
class WatchedConnection implements AgentConnection {
  #controller: AbortController | undefined;
  #closed = false;

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#closed) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  close(): void {
    this.#closed = true;
    this.#controller?.abort();
  }
}

/** An AbortSignal's DOMException means the agent left: say so by name. */
function asAgentClosed(err: unknown): unknown {
  return err instanceof Error && err.name === 'AbortError'
    ? new AgentClosedError('the agent closed the connection while its request was held')
    : err;
}
