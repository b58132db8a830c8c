/**
 * The typed client over any transport: one method per contract operation, envelopes unwrapped,
 * errors thrown as ApiCallError with the engine's name and message.
 */
import { describe, expect, it } from 'vitest';
import { API_OPERATIONS } from '../../src/shared/api.js';
import {
  ApiCallError,
  createApiClient,
  errorBody,
  type ApiTransport,
} from '../../src/shared/api-client.js';

function recording(answer: (op: string, request: unknown) => unknown): {
  transport: ApiTransport;
  calls: Array<[string, unknown]>;
} {
  const calls: Array<[string, unknown]> = [];
  return {
    calls,
    transport: {
      async call(op, request) {
        calls.push([op, request]);
        return answer(op, request);
      },
    },
  };
}

describe('createApiClient', () => {
  it('has one method per contract operation, each calling its own op', async () => {
    const { transport, calls } = recording((op) => ({ result: op }));
    const client = createApiClient(transport);
    for (const op of API_OPERATIONS) {
      const method = client[op] as (request: unknown) => Promise<unknown>;
      expect(await method({})).toBe(op);
    }
    expect(calls.map(([op]) => op)).toEqual([...API_OPERATIONS]);
  });

  it('knows no list of its own, and is not a thenable (it can be returned from async code)', async () => {
    const { transport, calls } = recording((op) => ({ result: op }));
    const client = createApiClient(transport);
    expect(await Promise.resolve(client)).toBe(client);
    expect(calls).toEqual([]);
    expect(client['mappings.list']).toBe(client['mappings.list']);
  });

  it('passes the request through, and an object for operations without one', async () => {
    const { transport, calls } = recording(() => ({ result: [] }));
    const client = createApiClient(transport);
    await client['mappings.upsert']({ host: 'api.openai.com', ref: 'env://K' });
    await client['mappings.list']();
    expect(calls).toEqual([
      ['mappings.upsert', { host: 'api.openai.com', ref: 'env://K' }],
      ['mappings.list', {}],
    ]);
  });

  it('unwraps results, including falsy ones', async () => {
    const client = createApiClient(recording(() => ({ result: null })).transport);
    expect(await client['proxy.status']()).toBeNull();
  });

  it('throws the engine’s error as an ApiCallError with its name and message', async () => {
    const client = createApiClient(
      recording(() => ({ error: { name: 'InvalidInputError', message: 'host is empty' } }))
        .transport,
    );
    const err = await client['mappings.upsert']({ host: '', ref: 'env://K' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiCallError);
    expect(err).toMatchObject({
      errorName: 'InvalidInputError',
      message: 'host is empty',
      op: 'mappings.upsert',
    });
  });

  it('a failing transport or an answer that is no envelope becomes a TransportError', async () => {
    const failing = createApiClient({
      call: () => Promise.reject(new TypeError('fetch failed')),
    });
    await expect(failing['proxy.status']()).rejects.toMatchObject({
      errorName: 'TransportError',
      message: 'fetch failed',
    });
    for (const answer of [undefined, 'text', 42, [], {}, { error: 'flat' }]) {
      const odd = createApiClient(recording(() => answer).transport);
      await expect(odd['proxy.status'](), JSON.stringify(answer)).rejects.toMatchObject({
        errorName: 'TransportError',
      });
    }
  });
});

describe('errorBody', () => {
  it('keeps only name and message: never the stack or a cause', () => {
    const err = new RangeError('port 70000 is not a port', { cause: new Error('inner secret') });
    expect(errorBody(err)).toEqual({ name: 'RangeError', message: 'port 70000 is not a port' });
    expect(JSON.stringify(errorBody(err))).not.toContain('at ');
    expect(errorBody('plain')).toEqual({ name: 'Error', message: 'plain' });
  });
});
