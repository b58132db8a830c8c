import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/engine/log/logger.js';
import { composeHooks } from '../../../src/engine/proxy/compose-hooks.js';
import type {
  AdmittedRequest,
  AgentConnection,
  RequestHooks,
} from '../../../src/engine/proxy/request-hooks.js';

const REQUEST: AdmittedRequest = {
  agent: 'a',
  mapping: 'api.example.com',
  preset: undefined,
  host: 'api.example.com',
  port: 443,
  method: 'POST',
  path: '/v1/messages',
  shape: 'intercepted',
};

function connection(controller = new AbortController()): AgentConnection {
  return { signal: controller.signal };
}

function recordingLog(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return {
    errors,
    error: (msg) => errors.push(msg),
    warn: () => undefined,
    info: () => undefined,
    debug: () => undefined,
    enabled: () => true,
  };
}

describe('composeHooks', () => {
  it('runs beforeSecret in order and stops at the first refusal', async () => {
    const calls: string[] = [];
    const refusal = new Error('refused');
    const hooks = composeHooks([
      { beforeSecret: () => void calls.push('budget') },
      {
        beforeSecret: async () => {
          await Promise.resolve();
          calls.push('approval');
          throw refusal;
        },
      },
      { beforeSecret: () => void calls.push('never') },
    ]);
    await expect(hooks.beforeSecret!(REQUEST, connection())).rejects.toBe(refusal);
    expect(calls).toEqual(['budget', 'approval']);
  });

  it('stops when the agent hangs up while a hook holds the request', async () => {
    const controller = new AbortController();
    const calls: string[] = [];
    let release!: () => void;
    const hooks = composeHooks([
      {
        beforeSecret: () => {
          calls.push('first');
          return new Promise<void>((resolve) => (release = resolve));
        },
      },
      { beforeSecret: () => void calls.push('second') },
    ]);
    const held = hooks.beforeSecret!(REQUEST, connection(controller));
    controller.abort(new Error('agent closed'));
    release();
    await expect(held).rejects.toThrow('agent closed');
    expect(calls).toEqual(['first']);
  });

  it('never reads the signal when no hook holds (it is made on first read)', () => {
    let reads = 0;
    const watched: AgentConnection = {
      get signal() {
        reads++;
        return new AbortController().signal;
      },
    };
    const hooks = composeHooks([
      { beforeSecret: () => undefined },
      { beforeSecret: () => undefined },
    ]);
    expect(hooks.beforeSecret!(REQUEST, watched)).toBeUndefined();
    expect(reads).toBe(0);
  });

  it('asks every hook before a WebSocket message, and what one throws stops it', () => {
    const calls: string[] = [];
    const refusal = new Error('over budget');
    let refuse = false;
    const hooks = composeHooks([
      { beforeWebSocketMessage: () => void calls.push('budgets') },
      {},
      {
        beforeWebSocketMessage: () => {
          calls.push('second');
          if (refuse) throw refusal;
        },
      },
    ]);
    hooks.beforeWebSocketMessage!(REQUEST);
    refuse = true;
    expect(() => hooks.beforeWebSocketMessage!(REQUEST)).toThrow(refusal);
    expect(calls).toEqual(['budgets', 'second', 'budgets', 'second']);
  });

  it('has no member for a stage no hook has', () => {
    const hooks = composeHooks([{ beforeSecret: () => undefined }]);
    expect(hooks.onResponse).toBeUndefined();
    expect(hooks.onWebSocket).toBeUndefined();
    expect(hooks.beforeWebSocketMessage).toBeUndefined();
    expect(composeHooks([]).beforeSecret).toBeUndefined();
  });

  it('fans out to observers; a throwing one is dropped and logged, the others go on', () => {
    const log = recordingLog();
    const seen: string[] = [];
    let badCalls = 0;
    const good: RequestHooks = {
      onResponse: () => ({
        chunk: (d) => void seen.push(d.toString()),
        end: (c) => void seen.push(`end:${c}`),
      }),
    };
    const bad: RequestHooks = {
      onResponse: () => ({
        chunk: () => {
          badCalls++;
          throw new Error('bug');
        },
        end: () => void badCalls++,
      }),
    };
    const broken: RequestHooks = {
      onResponse: () => {
        throw new Error('bug at head');
      },
    };
    const observer = composeHooks([bad, broken, good], log).onResponse!(REQUEST, 200, {})!;
    observer.chunk(Buffer.from('one'));
    observer.chunk(Buffer.from('two'));
    observer.end(true);
    expect(seen).toEqual(['one', 'two', 'end:true']);
    expect(badCalls).toBe(1);
    expect(log.errors).toHaveLength(2);
  });

  it('returns no observer when no hook wants the response', () => {
    const hooks = composeHooks([{ onResponse: () => undefined }]);
    expect(hooks.onResponse!(REQUEST, 200, {})).toBeUndefined();
  });

  it('fans out WebSocket messages the same way', () => {
    const log = recordingLog();
    const seen: string[] = [];
    const observer = composeHooks(
      [
        {
          onWebSocket: () => ({
            message: () => {
              throw new Error('bug');
            },
            close: () => undefined,
          }),
        },
        {
          onWebSocket: () => ({
            message: (d, text) => void seen.push(`${d.toString()}:${text}`),
            close: () => void seen.push('close'),
          }),
        },
      ],
      log,
    ).onWebSocket!(REQUEST)!;
    observer.message(Buffer.from('m1'), true);
    observer.message(Buffer.from('m2'), false);
    observer.close();
    expect(seen).toEqual(['m1:true', 'm2:false', 'close']);
    expect(log.errors).toHaveLength(1);
  });
});
