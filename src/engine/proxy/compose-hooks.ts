/**
 * Several RequestHooks as one, for the proxy's single `hooks` option. `beforeSecret` runs each
 * hook in order (synchronously while they answer synchronously) and stops at the first refusal (so budgets, listed first, refuse before an
 * approval would ask the user). Observers fan out; one that throws is dropped and logged, so
 * a bug in accounting can never cut or stall the relay.
 */
import type { Logger } from '../log/logger.js';
import type {
  AdmittedRequest,
  AgentConnection,
  RequestHooks,
  ResponseObserver,
  WebSocketObserver,
} from './request-hooks.js';

function guarded<T extends object>(
  observers: T[],
  log: Logger | undefined,
  call: (observer: T) => void,
): void {
  for (let i = 0; i < observers.length; i++) {
    try {
      call(observers[i]!);
    } catch (err) {
      log?.error('a response observer failed; it is dropped for this request', { err });
      observers.splice(i--, 1);
    }
  }
}

export function composeHooks(hooks: readonly RequestHooks[], log?: Logger): RequestHooks {
  const before = hooks.filter((hook) => hook.beforeSecret);
  const responses = hooks.filter((hook) => hook.onResponse);
  const sockets = hooks.filter((hook) => hook.onWebSocket);
  const messages = hooks.filter((hook) => hook.beforeWebSocketMessage);
  const composed: RequestHooks = {};
  if (before.length > 0) {
    // Synchronous until a hook returns a promise: most requests (agents that neither ask nor
    // have budgets) then cost the proxy no promise at all.
    // The agent can only have left while a hook held the request, so the signal is read (and
    // made, request-hooks.ts) only after a promise.
    const from = (
      start: number,
      request: AdmittedRequest,
      connection: AgentConnection,
    ): Promise<void> | undefined => {
      for (let i = start; i < before.length; i++) {
        const result = before[i]!.beforeSecret!(request, connection);
        if (result)
          return result.then(() => {
            connection.signal.throwIfAborted();
            return from(i + 1, request, connection);
          });
      }
      return undefined;
    };
    composed.beforeSecret = (request: AdmittedRequest, connection: AgentConnection) =>
      from(0, request, connection);
  }
  if (responses.length > 0)
    composed.onResponse = (request, status, headers) => {
      const observers: ResponseObserver[] = [];
      for (const hook of responses) {
        try {
          const observer = hook.onResponse!(request, status, headers);
          if (observer) observers.push(observer);
        } catch (err) {
          log?.error('a response hook failed; the response is relayed unobserved by it', { err });
        }
      }
      if (observers.length === 0) return undefined;
      return {
        chunk: (data) => guarded(observers, log, (o) => o.chunk(data)),
        end: (complete) => guarded(observers, log, (o) => o.end(complete)),
      };
    };
  if (sockets.length > 0)
    composed.onWebSocket = (request) => {
      const observers: WebSocketObserver[] = [];
      for (const hook of sockets) {
        try {
          const observer = hook.onWebSocket!(request);
          if (observer) observers.push(observer);
        } catch (err) {
          log?.error('a WebSocket hook failed; the socket is relayed unobserved by it', { err });
        }
      }
      if (observers.length === 0) return undefined;
      return {
        message: (data, isText) => guarded(observers, log, (o) => o.message(data, isText)),
        close: () => guarded(observers, log, (o) => o.close()),
      };
    };
  if (messages.length > 0)
    // A refusal, not an observer: what one throws closes the WebSocket, as beforeSecret's refuses.
    composed.beforeWebSocketMessage = (request) => {
      for (const hook of messages) hook.beforeWebSocketMessage!(request);
    };
  return composed;
}
