/**
 * A typed client over the contract (./api.ts), whatever carries it: Electron IPC through the
 * preload, or loopback HTTP (`keygate serve --ui`). Runs in Node and in the browser alike, so it
 * imports neither.
 *
 * Every transport answers with an envelope, `{ result }` or `{ error: { name, message } }`:
 * Electron's IPC and HTTP both lose an Error's class and fields on the way, so the error travels
 * as data and is thrown here, on the caller's side, as an ApiCallError.
 */
// Types only: api.ts holds the zod schemas, and the renderer runs in a browser without zod.
import type { ApiOperation, ApiRequest, ApiResponse } from './api.js';

/** What every transport carries back. `message` never holds a secret or a stack trace. */
export interface ApiErrorBody {
  name: string;
  message: string;
  /** The error's code (`invalid_request`, …) when Keygate named it (src/engine/errors.ts). */
  code?: string;
}

export type ApiEnvelope<T = unknown> = { result: T } | { error: ApiErrorBody };

export interface ApiTransport {
  /** Resolves to an ApiEnvelope; rejects only when the transport itself failed. */
  call(op: string, request: unknown): Promise<unknown>;
}

export type ApiClient = {
  readonly [K in ApiOperation]: (request: ApiRequest<K>) => Promise<ApiResponse<K>>;
};

/**
 * An operation's failure, as the engine reported it (`InvalidInputError`, …) or the transport.
 * The client's view of an error the engine reported over a transport: it carries the engine's
 * error name, not a class of its own, so it stays a plain Error (shared code imports nothing from
 * the engine, where defineError lives).
 */
export class ApiCallError extends Error {
  constructor(
    /** The engine's error name, e.g. `InvalidInputError`; `TransportError` when nothing answered. */
    readonly errorName: string,
    message: string,
    /** The operation that failed. */
    readonly op: string,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

/** The error half of an envelope: name, message and code only, never the stack or a cause. */
export function errorBody(err: unknown): ApiErrorBody {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const code = (err as { code?: unknown }).code;
  return {
    name: err.name || 'Error',
    message: err.message,
    // Node's own errors carry a code too (ENOENT); only a Keygate error's is worth sending.
    ...(typeof code === 'string' && /^[a-z_]+$/.test(code) ? { code } : {}),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value of an envelope, or the ApiCallError it carries. */
export function unwrapEnvelope(op: string, envelope: unknown): unknown {
  if (isRecord(envelope)) {
    const error = envelope.error;
    if (isRecord(error)) {
      const name = typeof error.name === 'string' ? error.name : 'Error';
      const message = typeof error.message === 'string' ? error.message : 'the request failed';
      throw new ApiCallError(name, message, op);
    }
    if ('result' in envelope) return envelope.result;
  }
  throw new ApiCallError('TransportError', `${op}: the answer was not understood`, op);
}

/**
 * One method per operation, made when first read: the client does not know the list (which
 * lives with the schemas); the far side refuses a name that is not an operation. `then` is not
 * one, so a client can be returned from an async function.
 */
export function createApiClient(transport: ApiTransport): ApiClient {
  const methods = new Map<string, (request: unknown) => Promise<unknown>>();
  const method = (op: string) => async (request: unknown) => {
    let envelope: unknown;
    try {
      // Operations whose request is `void` still send an object, so handlers can destructure.
      envelope = await transport.call(op, request ?? {});
    } catch (err) {
      const { message } = errorBody(err);
      throw new ApiCallError('TransportError', message, op);
    }
    return unwrapEnvelope(op, envelope);
  };
  return new Proxy({} as ApiClient, {
    get(_target, op) {
      if (typeof op !== 'string' || op === 'then') return undefined;
      let found = methods.get(op);
      if (!found) methods.set(op, (found = method(op)));
      return found;
    },
  });
}
