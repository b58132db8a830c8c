/**
 * CLI contract: `keygate agent add|list|rm`. The token is printed once, on stdout, and nowhere
 * else; lists never show it; the settings file holding it is 0600.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keygate, tempHome } from '../helpers/keygate-process.js';
import { keygateAll, readSettings } from './cli-helpers.js';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

let home: ReturnType<typeof tempHome>;
beforeAll(() => {
  home = tempHome('keygate-cli-agent-');
});
afterAll(() => home.cleanup());

describe('keygate agent', () => {
  let bobToken = '';
  let carolToken = '';

  it('add prints a 256-bit base64url token once, on stdout only', () => {
    const bob = keygate(['agent', 'add', 'bob'], { home: home.home });
    expect(bob.status).toBe(0);
    expect(bob.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    bobToken = bob.stdout.trim();
    expect(Buffer.from(bobToken, 'base64url')).toHaveLength(32);
    expect(bob.stderr).toMatch(/agent "bob" created/);
    expect(bob.stderr).not.toContain(bobToken);

    // --hosts grants are canonicalised (case, trailing dot, spaces after commas).
    const carol = keygate(['agent', 'add', 'carol', '--hosts', 'API.OpenAI.com., *.Example.com'], {
      home: home.home,
    });
    expect(carol.status).toBe(0);
    carolToken = carol.stdout.trim();
    expect(carolToken).toMatch(TOKEN);
    expect(carolToken).not.toBe(bobToken);

    const settings = readSettings(home.home);
    expect(settings.agents.find((a) => a.name === 'bob')?.token).toBe(bobToken);
    expect(settings.agents.find((a) => a.name === 'carol')).toMatchObject({
      token: carolToken,
      hosts: ['api.openai.com', '*.example.com'],
    });
    expect(statSync(join(home.home, 'settings.json')).mode & 0o777).toBe(0o600);
    expect(statSync(home.home).mode & 0o777).toBe(0o700);
  });

  it('refuses a duplicate, a bad name or a bad grant (exit 2); rm of a missing agent is exit 1', async () => {
    const cases: [string[], number, RegExp][] = [
      [['agent', 'add', 'bob'], 2, /agent "bob" already exists/],
      [['agent', 'add', 'bad name'], 2, /agent name "bad name": use 1-64 letters/],
      [['agent', 'add', 'dave', '--hosts', 'a.*.com'], 2, /host "a\.\*\.com": a wildcard/],
      [['agent', 'add', 'dave', '--hosts', 'https://api.example.com'], 2, /not a URL/],
      // An empty list must not silently mean "every mapping".
      [['agent', 'add', 'dave', '--hosts', ''], 2, /--hosts needs at least one host pattern/],
      [['agent', 'rm', 'ghost'], 1, /no agent named "ghost"/],
    ];
    const results = await keygateAll(
      cases.map(([args]) => args),
      { home: home.home },
    );
    results.forEach((result, i) => {
      const [args, status, message] = cases[i] ?? [[], -1, /./];
      expect({ args, status: result.status, stdout: result.stdout }).toEqual({
        args,
        status,
        stdout: '',
      });
      expect(result.stderr).toMatch(message);
    });
    expect(readSettings(home.home).agents.map((a) => a.name)).toEqual(['bob', 'carol']);
  });

  it('list never shows a token, as text or JSON', async () => {
    const [text, json] = await keygateAll(
      [
        ['agent', 'list'],
        ['agent', 'list', '--json'],
      ],
      {
        home: home.home,
      },
    );
    for (const result of [text, json]) {
      expect(result?.status).toBe(0);
      expect(result?.stdout).not.toContain(bobToken);
      expect(result?.stdout).not.toContain(carolToken);
      expect(result?.stdout).not.toMatch(/token/i);
    }
    expect(text?.stdout).toMatch(/^bob\t\*\t\d{4}-\d\d-\d\dT/m);
    expect(text?.stdout).toMatch(/^carol\tapi\.openai\.com,\*\.example\.com\t/m);
    const agents = JSON.parse(json?.stdout ?? '') as Record<string, unknown>[];
    expect(agents).toEqual([
      { name: 'bob', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) },
      {
        name: 'carol',
        hosts: ['api.openai.com', '*.example.com'],
        createdAt: expect.any(String),
      },
    ]);
  });

  it('rm revokes: the agent is gone from the list and from env', async () => {
    const removed = keygate(['agent', 'rm', 'bob'], { home: home.home });
    expect(removed.status).toBe(0);
    expect(removed.stdout).toBe('revoked bob\n');
    const [list, env] = await keygateAll(
      [
        ['agent', 'list', '--json'],
        ['env', '--agent', 'bob'],
      ],
      { home: home.home },
    );
    expect((JSON.parse(list?.stdout ?? '') as { name: string }[]).map((a) => a.name)).toEqual([
      'carol',
    ]);
    expect(env?.status).toBe(2);
    expect(env?.stderr).toMatch(/no agent named "bob"/);
    expect(readSettings(home.home).agents.some((a) => a.token === bobToken)).toBe(false);
  });
});
