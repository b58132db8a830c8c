/**
 * Runs the compiled preload (dist/preload/preload.cjs, built by the global setup) the way a
 * sandboxed renderer does: CommonJS, with a `require` that knows only `electron`. Here `electron`
 * is a fake that records what the preload exposes and sends, so no Electron binary is needed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInThisContext } from 'node:vm';
import { beforeEach, describe, expect, it } from 'vitest';
import { API_OPERATIONS } from '../../src/shared/api.js';
import { ApiCallError, unwrapEnvelope } from '../../src/shared/api-client.js';
import { REPO_ROOT } from '../helpers/keygate-process.js';

const PRELOAD = join(REPO_ROOT, 'dist', 'preload', 'preload.cjs');

interface Bridge {
  call(op: unknown, request?: unknown): Promise<unknown>;
}

interface Loaded {
  exposed: Map<string, unknown>;
  invocations: Array<[string, unknown]>;
  required: string[];
  answer: (channel: string, request: unknown) => unknown;
}

function loadPreload(): Loaded & { bridge: Bridge } {
  const loaded: Loaded = {
    exposed: new Map(),
    invocations: [],
    required: [],
    answer: (channel) => ({ result: { channel } }),
  };
  const electron = {
    contextBridge: {
      exposeInMainWorld: (key: string, api: unknown) => loaded.exposed.set(key, api),
    },
    ipcRenderer: {
      invoke: async (channel: string, request: unknown) => {
        loaded.invocations.push([channel, request]);
        return loaded.answer(channel, request);
      },
    },
  };
  // The sandbox's require: `electron` and a few builtins; never a file of the app's own.
  const sandboxRequire = (id: string) => {
    loaded.required.push(id);
    if (id === 'electron') return electron;
    throw new Error(`a sandboxed preload cannot require ${id}`);
  };
  const source = readFileSync(PRELOAD, 'utf8');
  const wrapper = runInThisContext(
    `(function (require, process, Buffer, global, setImmediate, clearImmediate, exports, module) {${source}\n})`,
    { filename: PRELOAD },
  ) as (...args: unknown[]) => void;
  const module = { exports: {} };
  wrapper(
    sandboxRequire,
    undefined,
    undefined,
    {},
    setImmediate,
    clearImmediate,
    module.exports,
    module,
  );
  // The same object the fake electron reads `answer` from, so a test can change the answer.
  return Object.assign(loaded, { bridge: loaded.exposed.get('keygate') as Bridge });
}

describe('preload (compiled, in a simulated sandbox)', () => {
  let preload: ReturnType<typeof loadPreload>;
  beforeEach(() => {
    preload = loadPreload();
  });

  it('requires nothing but electron', () => {
    expect(new Set(preload.required)).toEqual(new Set(['electron']));
  });

  it('exposes exactly window.keygate with one function, call', () => {
    expect([...preload.exposed.keys()]).toEqual(['keygate']);
    expect(Object.keys(preload.bridge)).toEqual(['call']);
    expect(typeof preload.bridge.call).toBe('function');
  });

  it('forwards every contract operation on keygate:<op>, with its request', async () => {
    for (const op of API_OPERATIONS) {
      const request = { for: op };
      await expect(preload.bridge.call(op, request)).resolves.toEqual({
        result: { channel: `keygate:${op}` },
      });
      expect(preload.invocations.at(-1)).toEqual([`keygate:${op}`, request]);
    }
    expect(preload.invocations).toHaveLength(API_OPERATIONS.length);
  });

  it('its operation list is the one the build wrote from the contract, no more and no less', () => {
    const source = readFileSync(PRELOAD, 'utf8');
    const written = /^const OPERATIONS = (\[.*\]);$/m.exec(source)?.[1];
    expect(JSON.parse(written ?? 'null')).toEqual([...API_OPERATIONS]);
    // The source holds no copy: only the placeholder the build replaces (scripts/build.mjs).
    const own = readFileSync(join(REPO_ROOT, 'src', 'preload', 'preload.cts'), 'utf8');
    expect(own).toMatch(/const OPERATIONS: readonly string\[\] = \[\/\* API_OPERATIONS \*\/\];/);
    for (const op of API_OPERATIONS) expect(own).not.toContain(`'${op}'`);
  });

  it.each([
    'mappings.drop',
    'constructor',
    '__proto__',
    'toString',
    '',
    'keygate:mappings.list',
    42,
    null,
    undefined,
    { toString: () => 'mappings.list' },
    {
      toString: () => {
        throw new Error('boom');
      },
    },
  ])('answers %j with an UnknownOperationError envelope, sending nothing', async (op) => {
    const envelope = await preload.bridge.call(op, {});
    expect(envelope).toMatchObject({ error: { name: 'UnknownOperationError' } });
    expect(() => unwrapEnvelope(String(typeof op), envelope)).toThrow(ApiCallError);
    expect(preload.invocations).toEqual([]);
  });

  it('passes the main process envelope through untouched, errors included', async () => {
    const failure = {
      error: { name: 'InvalidInputError', message: 'op://x does not resolve' },
    };
    preload.answer = () => failure;
    await expect(preload.bridge.call('mappings.upsert', {})).resolves.toEqual(failure);
  });
});
