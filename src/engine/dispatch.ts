/**
 * The one way into the contract's handlers from outside the process, and from the CLI: the raw
 * request is checked against its operation's schema (src/shared/api.ts) first, so a malformed
 * one gets the same InvalidRequestError over IPC, over HTTP and from the CLI, and a handler only
 * ever sees the shape it was typed for (unknown keys dropped).
 */
import type { z } from 'zod';
import {
  API,
  isApiOperation,
  type ApiHandlers,
  type ApiOperation,
  type ApiRequest,
  type ApiResponse,
} from '../shared/api.js';
import { defineError, InvalidRequestError } from './errors.js';

/** A name that is not one of the contract's operations. */
export class UnknownOperationError extends defineError('UnknownOperationError', {
  status: 404,
  code: 'unknown_operation',
}) {}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
};

/**
 * "port must be a number": the field and what it must be. Never the value received, which may
 * be a secret (`token.set`) or a pasted key.
 */
function describe(op: ApiOperation, issue: z.core.$ZodIssue): string {
  const field = issue.path.map(String).join('.');
  if (field === '') return `${op}: the request must be an object`;
  if (issue.code === 'invalid_type') {
    const expected = EXPECTED[issue.expected] ?? issue.expected;
    return `${op}: ${field} must be ${expected}`;
  }
  if (issue.code === 'invalid_value')
    return `${op}: ${field} must be one of ${issue.values.map(String).join(', ')}`;
  return `${op}: ${field}: ${issue.message}`;
}

/** The request as its handler takes it, or the InvalidRequestError naming the first problem. */
export function parseRequest<K extends ApiOperation>(op: K, raw: unknown): ApiRequest<K> {
  // Operations without input may be called with nothing (the CLI); `null` is not nothing.
  const parsed = API[op].request.safeParse(raw === undefined ? {} : raw);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    throw new InvalidRequestError(
      issue ? describe(op, issue) : `${op}: the request does not match the contract`,
    );
  }
  return parsed.data as ApiRequest<K>;
}

/**
 * Validates the request against the operation's schema, then runs its handler. Typed for the
 * CLI (`dispatch(handlers, 'mappings.list')`); transports pass what arrived, as `unknown`.
 */
export function dispatch<K extends ApiOperation>(
  handlers: ApiHandlers,
  op: K,
  ...request: ApiRequest<K> extends void ? [] : [ApiRequest<K>]
): Promise<ApiResponse<K>>;
export function dispatch(handlers: ApiHandlers, op: string, raw: unknown): Promise<unknown>;
export async function dispatch(handlers: ApiHandlers, op: string, raw?: unknown): Promise<unknown> {
  if (!isApiOperation(op)) throw new UnknownOperationError(`not a Keygate operation: ${op}`);
  const handler = handlers[op] as (request: unknown) => Promise<unknown>;
  return handler(parseRequest(op, raw));
}
