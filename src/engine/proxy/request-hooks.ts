/**
 * The seam between the proxy and the features that watch or hold admitted requests
 * (approvals, budgets, usage; issue 13). The proxy knows nothing of them: after admission
 * decides that a request may get a mapping's secret, and before the secret is resolved, it
 * awaits `beforeSecret`; when the upstream answers, it hands the relayed bytes to the
 * observers. Hooks never see a secret, a request body or a query string.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** What a hook may know of a request that admission let through to a mapping. */
export interface AdmittedRequest {
  /** The agent's name (`default` when the proxy runs without agents). */
  readonly agent: string;
  /** `CompiledMapping.name`: `host[:port][path]`. */
  readonly mapping: string;
  /** The mapping's preset name when it has one (`anthropic`, `openai`), for display. */
  readonly preset: string | undefined;
  /** Canonical target host and port the request goes to. */
  readonly host: string;
  readonly port: number;
  readonly method: string;
  /** Normalised origin-form path, without the query. */
  readonly path: string;
  readonly shape: 'intercepted' | 'plaintext' | 'websocket';
}

/** Sees the response body exactly as relayed to the agent (still content-encoded). */
export interface ResponseObserver {
  chunk(data: Buffer): void;
  /** Called once, when the body ended or the relay was cut (`complete` false). */
  end(complete: boolean): void;
}

/** Sees each complete upstream → agent WebSocket message (text or binary), unmasked. */
export interface WebSocketObserver {
  message(data: Buffer, isText: boolean): void;
  close(): void;
}

/** The agent's side of a request that a hook may hold. */
export interface AgentConnection {
  /**
   * Aborts when the agent's connection closes, so a held request is dropped with it. Made on
   * first read: most requests are never held, and on Node 20 an AbortController costs 3–6 µs
   * (docs/performance.md, "Hot path").
   */
  readonly signal: AbortSignal;
}

export interface RequestHooks {
  /**
   * Runs after admission and before any secret is resolved. Throw a named Keygate error
   * (it carries its status, e.g. 403 or 429) to refuse the request; return a promise to hold it.
   */
  beforeSecret?(request: AdmittedRequest, connection: AgentConnection): Promise<void> | void;
  /** The upstream's response head arrived; return an observer to see the body, or nothing. */
  onResponse?(
    request: AdmittedRequest,
    status: number,
    headers: IncomingHttpHeaders,
  ): ResponseObserver | undefined;
  /** A WebSocket upgrade succeeded (101); return an observer to see upstream messages. */
  onWebSocket?(request: AdmittedRequest): WebSocketObserver | undefined;
  /**
   * Before each agent → upstream message on an open WebSocket, which one upgrade lets carry any
   * number of model calls. Throw a named Keygate error to close the WebSocket instead (1008).
   */
  beforeWebSocketMessage?(request: AdmittedRequest): void;
}
