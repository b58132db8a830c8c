import { describe, expect, it, vi } from 'vitest';
import { API_OPERATIONS, type ApiHandlers, type ApiOperation } from '../../../src/shared/api.js';
import { unwrapEnvelope } from '../../../src/shared/api-client.js';
import { InvalidInputError } from '../../../src/engine/errors.js';
import {
  buildIpcTable,
  ipcChannel,
  isTrustedSender,
  type IpcResult,
} from '../../../src/engine/desktop/ipc-table.js';
import { navigationDecision } from '../../../src/engine/desktop/navigation.js';
import { WELL_FORMED } from '../../helpers/contract-requests.js';

/** Handlers that answer with their own name, so a test can tell which one ran. */
function fakeHandlers(overrides: Partial<Record<ApiOperation, (r: unknown) => unknown>> = {}) {
  const calls: Array<[ApiOperation, unknown]> = [];
  const handlers = Object.fromEntries(
    API_OPERATIONS.map((op) => [
      op,
      async (request: unknown) => {
        calls.push([op, request]);
        return overrides[op] ? overrides[op](request) : { handledBy: op };
      },
    ]),
  ) as unknown as ApiHandlers;
  return { handlers, calls };
}

const SETTINGS =
  'file:///Applications/Keygate.app/Contents/Resources/app.asar/dist/renderer/index.html';

describe('buildIpcTable', () => {
  it('answers in the envelope the shared API client unwraps', async () => {
    const { handlers } = fakeHandlers();
    const [entry] = buildIpcTable(handlers);
    expect(unwrapEnvelope(entry!.op, await entry!.invoke(undefined))).toEqual({
      handledBy: entry!.op,
    });
  });

  it('has one channel per contract operation, and nothing else', () => {
    const table = buildIpcTable(fakeHandlers().handlers);
    expect(table.map((e) => e.op)).toEqual([...API_OPERATIONS]);
    expect(new Set(table.map((e) => e.channel)).size).toBe(API_OPERATIONS.length);
    for (const entry of table) expect(entry.channel).toBe(`keygate:${entry.op}`);
  });

  it('names channels keygate:<op>', () => {
    expect(ipcChannel('mappings.list')).toBe('keygate:mappings.list');
    expect(ipcChannel('token.set')).toBe('keygate:token.set');
  });

  it('routes each channel to its own handler with the request', async () => {
    const { handlers, calls } = fakeHandlers();
    const table = buildIpcTable(handlers);
    for (const entry of table) {
      const request = WELL_FORMED[entry.op];
      await expect(entry.invoke(request)).resolves.toEqual({
        result: { handledBy: entry.op },
      });
      expect(calls.at(-1)).toEqual([entry.op, request]);
    }
  });

  it('passes an empty request for operations without input; null is refused', async () => {
    const { handlers, calls } = fakeHandlers();
    const entry = buildIpcTable(handlers).find((e) => e.op === 'mappings.list')!;
    await entry.invoke(undefined);
    await expect(entry.invoke(null)).resolves.toMatchObject({
      error: { name: 'InvalidRequestError' },
    });
    expect(calls).toEqual([['mappings.list', {}]]);
  });

  it("keeps the engine's error name and message, and nothing more", async () => {
    const { handlers } = fakeHandlers({
      'mappings.upsert': () => {
        throw new InvalidInputError('op://x does not resolve');
      },
    });
    const entry = buildIpcTable(handlers).find((e) => e.op === 'mappings.upsert')!;
    const result = await entry.invoke({ host: 'api.example.com', ref: 'op://x' });
    expect(result).toEqual({
      error: {
        name: 'InvalidInputError',
        code: 'invalid_input',
        message: 'op://x does not resolve',
      },
    } satisfies IpcResult);
    expect(JSON.stringify(result)).not.toMatch(/stack|at /);
  });

  it('refuses requests that are not objects, without calling the handler', async () => {
    const { handlers, calls } = fakeHandlers();
    const entry = buildIpcTable(handlers).find((e) => e.op === 'token.set')!;
    for (const bad of ['tok', 42, ['a'], true, { token: 42 }]) {
      await expect(entry.invoke(bad)).resolves.toMatchObject({
        error: { name: 'InvalidRequestError', code: 'invalid_request' },
      });
    }
    expect(calls).toEqual([]);
  });

  it('fails loudly when a handler is missing', () => {
    const { handlers } = fakeHandlers();
    delete (handlers as Partial<ApiHandlers>)['doctor.run'];
    expect(() => buildIpcTable(handlers)).toThrow(/no handler for doctor\.run/);
  });

  it('never echoes a token.set request in its result', async () => {
    const spy = vi.fn(async () => {
      throw new Error('the token was refused by 1Password');
    });
    const { handlers } = fakeHandlers({ 'token.set': spy });
    const entry = buildIpcTable(handlers).find((e) => e.op === 'token.set')!;
    const result = await entry.invoke({ token: 'ops_SECRET_TOKEN_VALUE' });
    expect(JSON.stringify(result)).not.toContain('ops_SECRET_TOKEN_VALUE');
  });
});

describe('isTrustedSender', () => {
  it('accepts the settings page, with any query or fragment', () => {
    expect(isTrustedSender(SETTINGS, SETTINGS)).toBe(true);
    expect(isTrustedSender(`${SETTINGS}#/mappings`, SETTINGS)).toBe(true);
    expect(isTrustedSender(`${SETTINGS}?tab=agents`, SETTINGS)).toBe(true);
    expect(isTrustedSender(SETTINGS.replace('file:///', 'file://localhost/'), SETTINGS)).toBe(true);
  });

  it.each([
    ['no URL', undefined],
    ['empty', ''],
    ['not a URL', 'index.html'],
    [
      'another file',
      'file:///Applications/Keygate.app/Contents/Resources/app.asar/dist/renderer/other.html',
    ],
    ['a file elsewhere', 'file:///tmp/index.html'],
    ['a path that climbs out and back', `${SETTINGS.replace('/renderer/', '/renderer/../x/')}`],
    ['a file URL with a host', SETTINGS.replace('file:///', 'file://evil.example/')],
    ['http', 'http://127.0.0.1:5173/index.html'],
    ['https', 'https://keygate.dev/index.html'],
    ['data', 'data:text/html,<script>1</script>'],
    ['about:blank', 'about:blank'],
    ['devtools', 'devtools://devtools/bundled/inspector.html'],
  ])('refuses %s', (_name, url) => {
    expect(isTrustedSender(url, SETTINGS)).toBe(false);
  });

  it('refuses everything when the expected URL is not a file: URL', () => {
    expect(isTrustedSender('http://localhost/', 'http://localhost/')).toBe(false);
  });
});

describe('navigationDecision', () => {
  it('stays on the settings page, opens https links outside, drops the rest', () => {
    expect(navigationDecision(`${SETTINGS}#/agents`, SETTINGS)).toBe('allow');
    expect(navigationDecision('https://developer.1password.com/docs/', SETTINGS)).toBe(
      'open-external',
    );
    for (const url of [
      'http://example.com/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'data:text/html,x',
      'x-apple.systempreferences:com.apple.preference.security',
      'https://user:pass@example.com/',
      'not a url',
    ]) {
      expect(navigationDecision(url, SETTINGS)).toBe('deny');
    }
  });
});
