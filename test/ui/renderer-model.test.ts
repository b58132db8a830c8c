/**
 * The settings window's pure parts, in Node: mapping drafts ⇄ contract input, exact removal
 * despite the contract's host-wide remove, which form field an engine message belongs to, and
 * display formatting (shell quoting, never a query string).
 */
import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../../src/shared/api-client.js';
import type { MappingInput, MappingView } from '../../src/shared/api.js';
import { pathOnly, portDetail, shLines } from '../../src/renderer/format.js';
import { shQuote } from '../../src/shared/shell-quote.js';
import {
  draftFromView,
  fieldOfMessage,
  inputFromDraft,
  removeExactly,
  viewToInput,
} from '../../src/renderer/sections/mapping-model.js';

function view(partial: Partial<MappingView> & Pick<MappingView, 'host'>): MappingView {
  return {
    name: partial.host + (partial.path ?? ''),
    ref: 'env://K',
    injector: { type: 'bearer' },
    explain: '',
    ...partial,
  };
}

describe('mapping drafts', () => {
  it('round-trips every injector kind through the form', () => {
    const cases: Array<[MappingView, MappingInput]> = [
      [
        view({ host: 'api.openai.com', preset: 'openai', injector: { type: 'bearer' } }),
        { host: 'api.openai.com', ref: 'env://K', preset: 'openai' },
      ],
      [view({ host: 'a.test' }), { host: 'a.test', ref: 'env://K', bearer: true }],
      [
        view({ host: 'a.test', injector: { type: 'header', name: 'X-T', format: 'T {secret}' } }),
        { host: 'a.test', ref: 'env://K', header: 'X-T', format: 'T {secret}' },
      ],
      [
        view({ host: 'a.test', injector: { type: 'api-key', name: 'x-key' } }),
        { host: 'a.test', ref: 'env://K', apiKeyHeader: 'x-key' },
      ],
      [
        view({ host: 'a.test', injector: { type: 'basic', userRef: 'env://U' } }),
        { host: 'a.test', ref: 'env://K', basicUserRef: 'env://U' },
      ],
      [
        view({ host: 'a.test', injector: { type: 'query', param: 'key' } }),
        { host: 'a.test', ref: 'env://K', query: 'key' },
      ],
      [
        view({ host: 'a.test', port: 8443, path: '/v1/**', account: 'work', allowPlaintext: true }),
        {
          host: 'a.test:8443',
          ref: 'env://K',
          path: '/v1/**',
          bearer: true,
          account: 'work',
          allowPlaintext: true,
        },
      ],
      [view({ host: '::1', port: 8080 }), { host: '[::1]:8080', ref: 'env://K', bearer: true }],
    ];
    for (const [mapping, input] of cases) expect(viewToInput(mapping)).toEqual(input);
  });

  it('trims what was typed and leaves an empty path out', () => {
    const draft = draftFromView(view({ host: 'a.test' }));
    expect(
      inputFromDraft({
        ...draft,
        host: ' a.test ',
        ref: ' env://K ',
        path: ' ',
        injector: { kind: 'auto' },
      }),
    ).toEqual({ host: 'a.test', ref: 'env://K' });
  });
});

describe('removeExactly', () => {
  it('re-saves what the host-wide remove took besides the target', async () => {
    const calls: string[] = [];
    const api = {
      'mappings.remove': async (request: { host: string; path?: string }) => {
        calls.push(`remove ${JSON.stringify(request)}`);
        return { removed: 0 };
      },
      'mappings.upsert': async (input: MappingInput) => {
        calls.push(`upsert ${input.host}${input.path ?? ''}`);
        return view({ host: input.host });
      },
    } as unknown as ApiClient;
    const plain = view({ host: 'a.test' });
    const withPath = view({ host: 'a.test', path: '/v1/**' });
    const otherPort = view({ host: 'a.test', port: 8443 });
    const elsewhere = view({ host: 'b.test' });
    await removeExactly(api, [plain, withPath, otherPort, elsewhere], plain);
    expect(calls).toEqual([
      'remove {"host":"a.test"}',
      'upsert a.test/v1/**',
      'upsert a.test:8443',
    ]);
    calls.length = 0;
    await removeExactly(api, [plain, withPath], withPath);
    expect(calls).toEqual(['remove {"host":"a.test","path":"/v1/**"}']);
  });
});

describe('fieldOfMessage', () => {
  it('puts the engine’s messages under the field they name', () => {
    expect(fieldOfMessage('host "https://x/": pass only the host name')).toBe('host');
    expect(fieldOfMessage('port 0 is not an integer from 1 to 65535')).toBe('host');
    expect(fieldOfMessage('ref "op://AI/x": a reference has vault, item and field')).toBe('ref');
    expect(fieldOfMessage('ref is empty')).toBe('ref');
    expect(fieldOfMessage('op://AI/Missing/credential does not resolve: not found')).toBe('ref');
    expect(fieldOfMessage('path "v1": a path glob must start with "/"')).toBe('path');
    expect(fieldOfMessage('format "x" must contain {secret}, where the secret goes')).toBe(
      'injector',
    );
    expect(fieldOfMessage('the settings file is locked')).toBeUndefined();
  });
});

describe('format', () => {
  it('quotes for sh exactly like `keygate env`', () => {
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
    expect(
      shLines([
        { name: 'A', value: 'x y' },
        { name: 'B', value: "q'" },
      ]),
    ).toBe(`export A='x y'\nexport B='q'\\'''`);
  });

  it('never shows a query string or fragment', () => {
    expect(pathOnly('/v1/models?key=SECRET')).toBe('/v1/models');
    expect(pathOnly('/a#b')).toBe('/a');
    expect(pathOnly(undefined)).toBe('');
  });
});

describe('General: where the proxy listens', () => {
  const status = {
    running: true,
    address: 'http://127.0.0.1:8790',
    port: 8790,
    denyUnmapped: false,
    mappings: 0,
    agents: 1,
    injectedToday: 0,
    usageToday: 0,
  };

  it('says the port it listens on, and why that may not be the saved one', () => {
    expect(portDetail(status)).toBe('Listening on 8790');
    expect(portDetail({ ...status, address: 'http://127.0.0.1:40123' })).toBe(
      'Listening on 40123: keygate serve --port pins it while it runs',
    );
    expect(portDetail({ ...status, running: false, address: undefined, port: 9000 })).toBe(
      'Saved port 9000; the proxy is off',
    );
  });
});
