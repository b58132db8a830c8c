/**
 * Before the secret (src/engine/proxy/before-secret.ts): what hooks may know of a request, and
 * running `beforeSecret` so a hook that decides at once costs no promise, a held request is
 * dropped when the agent leaves, and an abort is named.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentClosedError, InvalidRequestError } from '../../../src/engine/errors.js';
import { admittedRequest, passHooks } from '../../../src/engine/proxy/before-secret.js';
import type {
  AdmittedRequest,
  AgentConnection,
  RequestHooks,
} from '../../../src/engine/proxy/request-hooks.js';
import { CompiledMapping } from '../../../src/engine/rules/compiled-mapping.js';

const mapping = new CompiledMapping({
  host: 'api.anthropic.com',
  ref: 'env://KEY',
  injector: { type: 'header', name: 'x-api-key', format: '{secret}' },
  preset: 'anthropic',
});
const plain = new CompiledMapping({
  host: 'a.test',
  ref: 'env://KEY',
  injector: { type: 'bearer' },
});

function decision(path: string) {
  return { host: 'api.anthropic.com', port: 443, path, agent: { name: 'claude' } };
}

const request: AdmittedRequest = admittedRequest(
  decision('/v1/messages'),
  mapping,
  'POST',
  'intercepted',
);

const servers: net.Server[] = [];
const realAbortController = globalThis.AbortController;
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
  globalThis.AbortController = realAbortController;
});

/** Counts AbortControllers made, to see the signal is made only when read. */
function countAbortControllers(): { made: () => number } {
  let made = 0;
  globalThis.AbortController = class extends realAbortController {
    constructor() {
      super();
      made++;
    }
  };
  return { made: () => made };
}

describe('admittedRequest', () => {
  it('carries who, which mapping, where and how, and nothing more', () => {
    expect(admittedRequest(decision('/v1/messages'), mapping, 'POST', 'intercepted')).toStrictEqual(
      {
        agent: 'claude',
        mapping: 'api.anthropic.com',
        preset: 'anthropic',
        host: 'api.anthropic.com',
        port: 443,
        method: 'POST',
        path: '/v1/messages',
        shape: 'intercepted',
      },
    );
  });

  it.each([
    ['/v1/models?key=placeholder', '/v1/models'],
    ['/search?q=a?b', '/search'],
    ['/?only=query', '/'],
    ['/no-query', '/no-query'],
  ])('never carries the query: %s → %s', (path, expected) => {
    const out = admittedRequest(decision(path), plain, 'GET', 'plaintext');
    expect(out.path).toBe(expected);
    expect(JSON.stringify(out)).not.toContain('=');
  });

  it('has no preset when the mapping has none', () => {
    expect(admittedRequest(decision('/'), plain, 'GET', 'websocket').preset).toBeUndefined();
  });
});

describe('passHooks', () => {
  it('is undefined without a beforeSecret hook, and registers nothing', () => {
    let registered = 0;
    expect(passHooks({}, request, () => registered++)).toBeUndefined();
    expect(registered).toBe(0);
  });

  it('is undefined when the hook decides at once, makes no signal and registers nothing', () => {
    const controllers = countAbortControllers();
    const seen: AdmittedRequest[] = [];
    let registered = 0;
    const hooks: RequestHooks = { beforeSecret: (r) => void seen.push(r) };
    expect(passHooks(hooks, request, () => registered++)).toBeUndefined();
    expect(seen).toEqual([request]);
    expect(registered).toBe(0);
    expect(controllers.made()).toBe(0);
  });

  it('turns a synchronous throw into a rejection with the same error', async () => {
    const refusal = new InvalidRequestError('refused by a hook');
    const hooks: RequestHooks = {
      beforeSecret: () => {
        throw refusal;
      },
    };
    let result: Promise<void> | undefined;
    expect(() => (result = passHooks(hooks, request, () => undefined))).not.toThrow();
    await expect(result).rejects.toBe(refusal);
  });

  it('names a synchronous AbortError as AgentClosedError', async () => {
    const hooks: RequestHooks = {
      beforeSecret: () => {
        throw new DOMException('aborted', 'AbortError');
      },
    };
    await expect(passHooks(hooks, request, () => undefined)).rejects.toBeInstanceOf(
      AgentClosedError,
    );
  });

  it('holds while the hook holds, registers the abort once, and resolves with it', async () => {
    let release!: () => void;
    const aborts: Array<() => void> = [];
    const hooks: RequestHooks = { beforeSecret: () => new Promise<void>((r) => (release = r)) };
    const held = passHooks(hooks, request, (abort) => aborts.push(abort));
    expect(held).toBeInstanceOf(Promise);
    expect(aborts).toHaveLength(1);
    release();
    await expect(held).resolves.toBeUndefined();
  });

  it('passes a rejection that is not an abort through unchanged', async () => {
    const refusal = new InvalidRequestError('over budget');
    const hooks: RequestHooks = { beforeSecret: () => Promise.reject(refusal) };
    await expect(passHooks(hooks, request, () => undefined)).rejects.toBe(refusal);
  });

  it('makes the signal only when read, the same one each time, and aborts it on close', async () => {
    const controllers = countAbortControllers();
    let connection!: AgentConnection;
    let abort!: () => void;
    const hooks: RequestHooks = {
      beforeSecret: (_r, c) => {
        connection = c;
        return new Promise<void>(() => undefined);
      },
    };
    void passHooks(hooks, request, (a) => (abort = a))?.catch(() => undefined);
    expect(controllers.made()).toBe(0);
    const signal = connection.signal;
    expect(controllers.made()).toBe(1);
    expect(connection.signal).toBe(signal);
    expect(signal.aborted).toBe(false);
    abort();
    expect(signal.aborted).toBe(true);
    expect(controllers.made()).toBe(1);
  });

  it('a signal first read after the close is already aborted', () => {
    let connection!: AgentConnection;
    let abort!: () => void;
    const hooks: RequestHooks = {
      beforeSecret: (_r, c) => {
        connection = c;
        return new Promise<void>(() => undefined);
      },
    };
    void passHooks(hooks, request, (a) => (abort = a));
    abort();
    expect(connection.signal.aborted).toBe(true);
  });

  it('a held request is dropped as AgentClosedError when the real agent socket closes', async () => {
    const settled = new Promise<unknown>((resolve) => {
      const server = net.createServer((socket) => {
        const hooks: RequestHooks = {
          // A hook that holds (e.g. waiting for approval) and honours the signal.
          beforeSecret: (_r, c) => sleep(60_000, undefined, { signal: c.signal }),
        };
        passHooks(hooks, request, (abort) => socket.once('close', abort))?.then(
          () => resolve('resolved'),
          resolve,
        );
      });
      servers.push(server);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        const client = net.connect({ host: '127.0.0.1', port }, () => client.destroy());
      });
    });
    const err = await settled;
    expect(err).toBeInstanceOf(AgentClosedError);
    expect((err as InstanceType<typeof AgentClosedError>).status).toBe(499);
    expect((err as InstanceType<typeof AgentClosedError>).errorId).toBe('keygate_agent_closed');
  });
});
