/**
 * How every request ends, in one place: what the agent is told (error-response.ts), what the log
 * says, and the activity record. Every request shape ends through here, so the activity view
 * and the log agree on one vocabulary of outcomes.
 */
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { ActivityOutcome } from '../../shared/activity.js';
import type { ActivityLog, NewActivity } from '../activity/activity-log.js';
import { KeygateError, UpstreamUnreachableError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { AuthenticatedAgent } from './agent-directory.js';
import { sendError, writeRawError } from './error-response.js';

export interface RecordFields {
  readonly host: string;
  readonly port: number;
  /** performance.now() when the request arrived. */
  readonly started: number;
  readonly method?: string | undefined;
  readonly path?: string | undefined;
  readonly agent?: AuthenticatedAgent | undefined;
  readonly status?: number | undefined;
  readonly mapping?: string | undefined;
  readonly error?: string | undefined;
}

/** How a request ended, beside where it was: passed apart so no caller spreads `where`. */
export type RecordResult = Pick<RecordFields, 'method' | 'status' | 'mapping' | 'error'>;

export function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/**
 * For the activity record: a request-target's path, never its query (an absolute-form target's
 * scheme and authority are the record's host and port already).
 */
export function recordedPath(target: string): string | undefined {
  if (target.startsWith('/')) return stripQuery(target);
  try {
    return new URL(target).pathname;
  } catch {
    return undefined;
  }
}

/** Refusals the agent caused (403, 407, 421) are "denied"; the rest are errors. */
export function outcomeOf(error: KeygateError): ActivityOutcome {
  return error.status === 407 || error.status === 403 || error.status === 421 ? 'denied' : 'error';
}

export class Outcomes {
  constructor(
    private readonly activity: ActivityLog,
    private readonly log: Logger,
  ) {}

  /** A refusal decided before anything was sent upstream (admission, bad input). */
  deny(res: http.ServerResponse, err: KeygateError, where: RecordFields): void {
    sendError(res, err);
    this.record('denied', where, { status: err.status, error: err.errorId });
  }

  /** A CONNECT refused before the tunnel opened: a raw HTTP answer on the socket. */
  refuseConnect(socket: Duplex, err: KeygateError, where: RecordFields): void {
    writeRawError(socket, err, { host: where.host });
    this.record(err.status >= 500 ? 'error' : 'denied', where, {
      method: 'CONNECT',
      status: err.status,
      error: err.errorId,
    });
  }

  /** A request that failed after admission (secret, hook, upstream); anything else is a bug. */
  fail(res: http.ServerResponse, err: unknown, where: RecordFields): void {
    const error =
      err instanceof KeygateError
        ? err
        : new UpstreamUnreachableError('internal proxy error', { cause: err });
    if (!(err instanceof KeygateError)) this.log.error('unexpected proxy error', { err });
    else
      this.log.info('request failed', {
        code: error.errorId,
        host: where.host,
        reason: error.message,
      });
    sendError(res, error);
    this.record(outcomeOf(error), where, { status: error.status, error: error.errorId });
  }

  /** `result`'s fields win over `fields`'. */
  record(outcome: ActivityOutcome, fields: RecordFields, result?: RecordResult): void {
    // Assigned field by field rather than spread: this runs once per proxied request, and on
    // Node 20 a spread followed by new properties costs microseconds (docs/performance.md).
    const event: { -readonly [K in keyof NewActivity]: NewActivity[K] } = {
      outcome,
      host: fields.host,
      port: fields.port,
      latencyMs: Math.round((performance.now() - fields.started) * 100) / 100,
      // When the request arrived, not when it finished.
      atMs: performance.timeOrigin + fields.started,
    };
    if (fields.agent) event.agent = fields.agent.name;
    const method = result?.method ?? fields.method;
    if (method) event.method = method;
    // Never the query string: intercepted URLs may carry a query-injected credential.
    if (fields.path) event.path = stripQuery(fields.path);
    const status = result?.status ?? fields.status;
    if (status !== undefined) event.status = status;
    const mapping = result?.mapping ?? fields.mapping;
    if (mapping) event.mapping = mapping;
    const error = result?.error ?? fields.error;
    if (error) event.error = error;
    this.activity.record(event);
  }
}
