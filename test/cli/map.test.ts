/**
 * CLI contract: `keygate map add|list|rm|test`. HOST and REF are validated with a message that
 * says what is wrong (exit 2); settings and every output hold references, never secret values.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keygate, tempHome } from '../helpers/keygate-process.js';
import { keygateAll, readSettings } from './cli-helpers.js';

const SECRETS = {
  KG_T_OPENAI: 'sk-openai-REAL-map-test-91c2',
  KG_T_ANTHROPIC: 'sk-ant-REAL-map-test-4d7e',
  KG_T_TOKEN: 'tok-REAL-map-test-aa11',
  KG_T_USER: 'user-REAL-map-test',
  KG_T_PASS: 'pass-REAL-map-test-77',
};

let home: ReturnType<typeof tempHome>;
beforeAll(() => {
  home = tempHome('keygate-cli-map-');
});
afterAll(() => home.cleanup());

function expectNoSecret(text: string): void {
  for (const value of Object.values(SECRETS)) expect(text).not.toContain(value);
}

describe('keygate map', () => {
  it('starts empty', () => {
    const json = keygate(['map', 'list', '--json'], { home: home.home });
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it('refuses a bad HOST, REF or option combination with exit 2 and the reason', async () => {
    const ref = 'env://KG_T_TOKEN';
    const cases: [string[], RegExp][] = [
      [['', ref], /host is empty/],
      [['https://api.example.com/', ref], /pass only the host name: api\.example\.com/],
      [['a.*.com', ref], /wildcard is only allowed as the whole leftmost label/],
      [['1.2.3.4:99999', ref], /port "99999" is not a number from 1 to 65535/],
      [
        ['api.example.com', ref, '--preset', 'nope'],
        /unknown preset "nope"; known presets: .*openai/,
      ],
      [
        ['api.example.com', ref, '--header', 'X-K', '--format', 'Key abc'],
        /must contain \{secret\}/,
      ],
      [
        ['api.example.com', ref, '--header', 'X-K', '--bearer'],
        /choose one way .* \(got bearer, header\)/,
      ],
      [['api.example.com', 'foo://bar'], /unknown scheme "foo"/],
      [['api.example.com', 'env://1BAD'], /variable name after env:\/\/ may hold only letters/],
      [['api.example.com', ref, '--path', 'v1/**'], /path glob must start with "\/"/],
    ];
    const results = await keygateAll(
      cases.map(([args]) => ['map', 'add', ...args]),
      { home: home.home },
    );
    results.forEach((result, i) => {
      const [args, message] = cases[i] ?? [[], /./];
      expect({ args, status: result.status, stdout: result.stdout }).toEqual({
        args,
        status: 2,
        stdout: '',
      });
      expect(result.stderr, `map add ${args.join(' ')}`).toMatch(message);
      expect(result.stderr).toMatch(/^keygate: /);
    });
    expect(readSettings(home.home).mappings).toEqual([]);
  });

  it('adds every kind of mapping and lists them as references only', () => {
    const adds: [string[], RegExp][] = [
      // A known API host gets its preset without asking.
      [['api.anthropic.com', 'env://KG_T_TOKEN'], /^mapped api\.anthropic\.com: .*x-api-key/],
      [
        ['API.OpenAI.com.', 'env://KG_T_OPENAI', '--preset', 'openai'],
        /^mapped api\.openai\.com: /,
      ],
      [
        [
          '*.example.com',
          'env://KG_T_TOKEN',
          '--header',
          'X-Token',
          '--format',
          'Token {secret}',
          '--path',
          '/v1/**',
        ],
        /^mapped \*\.example\.com.*\/v1\/\*\*/,
      ],
      [['1.2.3.4:8443', 'env://KG_T_TOKEN', '--query', 'key'], /^mapped 1\.2\.3\.4:8443: /],
      [
        ['[::1]:8443', 'env://KG_T_PASS', '--basic', 'env://KG_T_USER'],
        /^mapped \[::1\]:8443: .*Basic/,
      ],
      [
        [
          'localhost',
          'env://KG_T_TOKEN',
          '--port',
          '8080',
          '--allow-plaintext',
          '--api-key-header',
          'X-Api-Key',
        ],
        /^mapped localhost:8080: .*plaintext HTTP allowed/,
      ],
    ];
    for (const [args, output] of adds) {
      const result = keygate(['map', 'add', ...args], { home: home.home, env: SECRETS });
      expect(result.stderr, args.join(' ')).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(output);
      expectNoSecret(result.stdout);
    }

    // Adding the same host, port and path again replaces the mapping rather than duplicating it.
    const replaced = keygate(['map', 'add', 'API.Anthropic.com', 'env://KG_T_ANTHROPIC'], {
      home: home.home,
    });
    expect(replaced.status).toBe(0);

    const json = keygate(['map', 'list', '--json'], { home: home.home, env: SECRETS });
    expect(json.status).toBe(0);
    expectNoSecret(json.stdout);
    const views = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(views).toHaveLength(6);
    for (const view of views) {
      expect(view).toEqual(
        expect.objectContaining({
          host: expect.any(String),
          ref: expect.stringMatching(/^env:\/\/KG_T_[A-Z]+$/),
          injector: expect.objectContaining({ type: expect.any(String) }),
          name: expect.any(String),
          explain: expect.any(String),
        }),
      );
    }
    const byName = Object.fromEntries(views.map((view) => [view.name, view]));
    expect(byName['api.anthropic.com']).toMatchObject({
      host: 'api.anthropic.com',
      ref: 'env://KG_T_ANTHROPIC',
      preset: 'anthropic',
      injector: { type: 'api-key', name: 'x-api-key' },
    });
    expect(byName['api.openai.com']).toMatchObject({
      preset: 'openai',
      injector: { type: 'bearer' },
    });
    expect(views.find((v) => v.host === '*.example.com')).toMatchObject({
      path: '/v1/**',
      injector: { type: 'header', name: 'X-Token', format: 'Token {secret}' },
    });
    expect(byName['1.2.3.4:8443']).toMatchObject({
      host: '1.2.3.4',
      port: 8443,
      injector: { type: 'query', param: 'key' },
    });
    expect(byName['[::1]:8443']).toMatchObject({
      host: '::1',
      port: 8443,
      injector: { type: 'basic', userRef: 'env://KG_T_USER' },
    });
    expect(byName['localhost:8080']).toMatchObject({
      port: 8080,
      allowPlaintext: true,
      injector: { type: 'api-key', name: 'X-Api-Key' },
    });

    const text = keygate(['map', 'list'], { home: home.home, env: SECRETS });
    expect(text.status).toBe(0);
    expectNoSecret(text.stdout);
    const rows = text.stdout.trim().split('\n');
    expect(rows).toHaveLength(6);
    expect(rows).toContainEqual(expect.stringMatching(/^api\.openai\.com\tenv:\/\/KG_T_OPENAI\t/));

    // The file holds references: every mapping's secret is named, never stored.
    const raw = readFileSync(join(home.home, 'settings.json'), 'utf8');
    expectNoSecret(raw);
    for (const mapping of readSettings(home.home).mappings) {
      expect(mapping.ref).toMatch(/^env:\/\//);
      expect(Object.keys(mapping).sort()).toEqual(
        expect.arrayContaining(['host', 'injector', 'ref']),
      );
    }
  });

  it('test resolves here and prints only a fingerprint; a missing variable fails with exit 1', async () => {
    const [openai, missing, missingUser, unmapped] = await Promise.all([
      keygateAll([['map', 'test', 'api.openai.com']], { home: home.home, env: SECRETS }),
      keygateAll([['map', 'test', 'api.anthropic.com']], {
        home: home.home,
        env: { ...SECRETS, KG_T_ANTHROPIC: undefined },
      }),
      keygateAll([['map', 'test', '::1']], {
        home: home.home,
        env: { ...SECRETS, KG_T_USER: undefined },
      }),
      keygateAll([['map', 'test', 'unmapped.example.com']], { home: home.home, env: SECRETS }),
    ]).then((all) => all.map((results) => results[0]));

    const fingerprint = `sha256:${createHash('sha256').update(SECRETS.KG_T_OPENAI).digest('hex').slice(0, 12)}`;
    expect(openai?.status).toBe(0);
    expect(openai?.stdout).toBe(
      `ok api.openai.com ${fingerprint} (${SECRETS.KG_T_OPENAI.length} characters)\n`,
    );
    expect(openai?.stdout).toMatch(/ sha256:[0-9a-f]{12} /);

    expect(missing?.status).toBe(1);
    expect(missing?.stdout).toMatch(
      /^failed api\.anthropic\.com: .*KG_T_ANTHROPIC is not set in the keygate process/,
    );

    // Basic resolves the user reference too, not only REF (the password).
    expect(missingUser?.status).toBe(1);
    expect(missingUser?.stdout).toMatch(/^failed \[::1\]:8443: .*KG_T_USER/);

    expect(unmapped?.status).toBe(2);
    expect(unmapped?.stderr).toMatch(/no mapping for unmapped\.example\.com/);

    for (const result of [openai, missing, missingUser, unmapped])
      expectNoSecret(`${result?.stdout}${result?.stderr}`);
  });

  it('rm removes a host (any spelling), refuses a bad one, and a missing one is exit 1', async () => {
    const [missing, bad] = await keygateAll(
      [
        ['map', 'rm', 'nothing.example.com'],
        ['map', 'rm', 'a.*.com'],
      ],
      { home: home.home },
    );
    expect(missing?.status).toBe(1);
    expect(missing?.stderr).toMatch(/no mapping for nothing\.example\.com/);
    expect(bad?.status).toBe(2);
    expect(bad?.stderr).toMatch(/wildcard is only allowed/);

    const removed = keygate(['map', 'rm', 'API.OPENAI.COM'], { home: home.home });
    expect(removed.status).toBe(0);
    expect(removed.stdout).toBe('removed 1 mapping(s) for API.OPENAI.COM\n');

    const hosts = readSettings(home.home).mappings.map((m) => m.host);
    expect(hosts).not.toContain('api.openai.com');
    expect(hosts).toContain('*.example.com');
    expect(hosts).toHaveLength(5);
  });
});
