import { describe, expect, it } from 'vitest';
import { dispatch, parseRequest, UnknownOperationError } from '../../src/engine/dispatch.js';
import { InvalidInputError, InvalidRequestError } from '../../src/engine/errors.js';
import { API_OPERATIONS, type ApiHandlers, type ApiOperation } from '../../src/shared/api.js';
import { MALFORMED, WELL_FORMED } from '../helpers/contract-requests.js';

function recordingHandlers() {
  const calls: Array<[ApiOperation, unknown]> = [];
  const handlers = Object.fromEntries(
    API_OPERATIONS.map((op) => [op, async (request: unknown) => void calls.push([op, request])]),
  ) as unknown as ApiHandlers;
  return { handlers, calls };
}

describe('dispatch', () => {
  it.each(API_OPERATIONS)('%s: a well-formed request reaches its handler as sent', async (op) => {
    const { handlers, calls } = recordingHandlers();
    await dispatch(handlers, op, WELL_FORMED[op]);
    expect(calls).toEqual([[op, WELL_FORMED[op]]]);
  });

  it.each(API_OPERATIONS)(
    '%s: a malformed request is an InvalidRequestError naming the field; the handler never runs',
    async (op) => {
      const { handlers, calls } = recordingHandlers();
      const error = await dispatch(handlers, op, MALFORMED[op].request).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidRequestError);
      // Still an InvalidInputError: the CLI's exit code 2 and the UI's 400 hold for it.
      expect(error).toBeInstanceOf(InvalidInputError);
      expect(error).toMatchObject({
        name: 'InvalidRequestError',
        code: 'invalid_request',
        status: 400,
        message: `${op}: ${MALFORMED[op].message}`,
      });
      expect(calls).toEqual([]);
    },
  );

  it('drops keys the schema does not know, so a handler sees only its own shape', async () => {
    const { handlers, calls } = recordingHandlers();
    await dispatch(handlers, 'agents.remove', { name: 'ci', admin: true });
    expect(calls).toEqual([['agents.remove', { name: 'ci' }]]);
  });

  it('calls an operation without input with nothing; null is not nothing', async () => {
    const { handlers, calls } = recordingHandlers();
    await dispatch(handlers, 'proxy.status');
    expect(calls).toEqual([['proxy.status', {}]]);
    await expect(dispatch(handlers, 'proxy.status', null)).rejects.toThrow(InvalidRequestError);
  });

  it('never echoes the value it refused (a token, a pasted key)', () => {
    for (const token of [['ops_SECRET_CANARY'], { value: 'ops_SECRET_CANARY' }, 4242]) {
      expect(() => parseRequest('token.set', { token })).toThrow(
        /^token\.set: token must be a string$/,
      );
    }
  });

  it.each(['mappings.drop', '__proto__', 'constructor', 'toString', ''])(
    'refuses %j as an UnknownOperationError',
    async (op) => {
      const { handlers, calls } = recordingHandlers();
      await expect(dispatch(handlers, op, {})).rejects.toMatchObject({
        name: 'UnknownOperationError',
        code: 'unknown_operation',
      });
      await expect(dispatch(handlers, op, {})).rejects.toBeInstanceOf(UnknownOperationError);
      expect(calls).toEqual([]);
    },
  );
});
