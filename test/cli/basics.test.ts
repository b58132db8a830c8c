/**
 * CLI contract: help, version, exit code 2 for a bad command line, how the home is found, and a
 * corrupt settings file being kept aside rather than wiped.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultHome } from '../../src/engine/home.js';
import { keygate, tempHome } from '../helpers/keygate-process.js';
import { keygateAll } from './cli-helpers.js';

const homes: { cleanup(): void }[] = [];
function newHome(): string {
  const home = tempHome('keygate-cli-basics-');
  homes.push(home);
  return home.home;
}
afterAll(() => homes.forEach((home) => home.cleanup()));

describe('command line', () => {
  it('--help, help CMD and --version exit 0 and print to stdout', async () => {
    const home = newHome();
    const [help, mapHelp, version] = await keygateAll(
      [['--help'], ['help', 'map'], ['--version']],
      { home },
    );
    expect(help?.status).toBe(0);
    expect(help?.stdout).toMatch(/^Usage: keygate /);
    for (const command of ['serve', 'map', 'agent', 'env', 'run', 'ca', 'doctor'])
      expect(help?.stdout).toContain(`  ${command}`);
    expect(mapHelp?.status).toBe(0);
    expect(mapHelp?.stdout).toMatch(/Usage: keygate map/);
    expect(version?.status).toBe(0);
    expect(version?.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a bad command line exits 2 with a message on stderr', async () => {
    const home = newHome();
    const cases = [
      ['frobnicate'],
      ['--bogus'],
      ['map', 'add', 'api.example.com'],
      ['agent', 'bogus'],
      ['serve', '--port', '70000'],
    ];
    const results = await keygateAll(cases, { home });
    results.forEach((result, i) => {
      expect({ args: cases[i], status: result.status }).toEqual({ args: cases[i], status: 2 });
      expect(result.stderr).toMatch(/error: /);
      expect(result.stdout).toBe('');
    });
    expect(results[0]?.stderr).toContain("unknown command 'frobnicate'");
    expect(results[1]?.stderr).toContain("unknown option '--bogus'");
    expect(results[2]?.stderr).toContain("missing required argument 'ref'");
    expect(results[3]?.stderr).toContain("unknown command 'bogus'");
    expect(results[4]?.stderr).toContain('expected a port number from 0 to 65535');
  });

  it('a group without its sub-command shows help on stderr and exits 2', async () => {
    const [map] = await keygateAll([['map']], { home: newHome() });
    expect(map?.status).toBe(2);
    expect(map?.stderr).toMatch(/Usage: keygate map/);
  });
});

describe('the home', () => {
  /** A scratch HOME and XDG dir; KEYGATE_HOME removed unless given. */
  function isolatedEnv(extra: NodeJS.ProcessEnv = {}) {
    const root = newHome();
    return {
      root,
      env: {
        HOME: join(root, 'user'),
        XDG_CONFIG_HOME: undefined,
        KEYGATE_HOME: undefined,
        ...extra,
      } as NodeJS.ProcessEnv,
    };
  }

  it('honours KEYGATE_HOME, then XDG_CONFIG_HOME, then ~/.config on Linux; --home wins', async () => {
    const keygateHome = isolatedEnv();
    keygateHome.env.KEYGATE_HOME = join(keygateHome.root, 'from-env');
    keygateHome.env.XDG_CONFIG_HOME = join(keygateHome.root, 'xdg');

    const xdg = isolatedEnv();
    xdg.env.XDG_CONFIG_HOME = join(xdg.root, 'xdg');

    const plain = isolatedEnv();
    mkdirSync(join(plain.root, 'user'));

    const flag = isolatedEnv();
    flag.env.KEYGATE_HOME = join(flag.root, 'from-env');

    const [a, b, c, d] = await Promise.all([
      keygateAll([['ca', 'path']], { env: keygateHome.env }),
      keygateAll([['ca', 'path']], { env: xdg.env }),
      keygateAll([['ca', 'path']], { env: plain.env }),
      keygateAll([['--home', join(flag.root, 'flag'), 'ca', 'path']], { env: flag.env }),
    ]);
    expect(a[0]?.stdout.trim()).toBe(join(keygateHome.root, 'from-env', 'ca', 'ca.pem'));
    expect(b[0]?.stdout.trim()).toBe(join(xdg.root, 'xdg', 'keygate', 'ca', 'ca.pem'));
    expect(c[0]?.stdout.trim()).toBe(
      join(plain.root, 'user', '.config', 'keygate', 'ca', 'ca.pem'),
    );
    expect(d[0]?.stdout.trim()).toBe(join(flag.root, 'flag', 'ca', 'ca.pem'));
    for (const result of [a, b, c, d]) expect(result[0]?.status).toBe(0);
    // Nothing was created where it should not have been.
    expect(existsSync(join(keygateHome.root, 'xdg'))).toBe(false);
    expect(existsSync(join(flag.root, 'from-env'))).toBe(false);
    expect(existsSync(join(xdg.root, 'user', '.config'))).toBe(false);
  });

  it('uses ~/Library/Application Support/Keygate on macOS; an empty XDG_CONFIG_HOME is unset', () => {
    // The bin cannot pretend to be macOS; the function it calls can.
    expect(defaultHome({}, 'darwin')).toMatch(/\/Library\/Application Support\/Keygate$/);
    expect(defaultHome({ KEYGATE_HOME: '/x' }, 'darwin')).toBe('/x');
    expect(defaultHome({ XDG_CONFIG_HOME: '/cfg' }, 'linux')).toBe('/cfg/keygate');
    // An empty XDG_CONFIG_HOME counts as unset (XDG Base Directory spec).
    expect(defaultHome({ XDG_CONFIG_HOME: '' }, 'linux')).toMatch(/\/\.config\/keygate$/);
  });
});

describe('a corrupt settings file', () => {
  it('is kept aside with its original bytes, the CLI says so, and the command goes on', () => {
    const home = newHome();
    const original = '{"schemaVersion": 1, "agents": [ {"name": "x", "token": "half-writt';
    writeFileSync(join(home, 'settings.json'), original, { mode: 0o600 });

    const result = keygate(['map', 'list', '--json'], { home });
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
    expect(result.stderr).toMatch(/settings\.json was unreadable \(not valid JSON\)/);
    expect(result.stderr).toMatch(/kept it as \S*settings\.json\.corrupt-/);
    // The message must not quote the file's content (it may hold tokens).
    expect(result.stderr).not.toContain('half-writt');

    const aside = readdirSync(home).filter((name) => name.startsWith('settings.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(result.stderr).toContain(join(home, aside[0] ?? ''));
    expect(readFileSync(join(home, aside[0] ?? ''), 'utf8')).toBe(original);
    // A fresh, valid file took its place.
    expect(JSON.parse(readFileSync(join(home, 'settings.json'), 'utf8'))).toMatchObject({
      schemaVersion: 1,
    });

    // A second corruption is kept aside too, under another name: nothing is overwritten.
    writeFileSync(join(home, 'settings.json'), '{"mappings": "not a list"}');
    const again = keygate(['agent', 'list'], { home });
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/schema validation failed/);
    const asideNow = readdirSync(home).filter((name) => name.startsWith('settings.json.corrupt-'));
    expect(asideNow).toHaveLength(2);
    expect(readFileSync(join(home, aside[0] ?? ''), 'utf8')).toBe(original);
  });

  it('a file from a newer Keygate is refused untouched (exit 1)', () => {
    const home = newHome();
    const newer = JSON.stringify({ schemaVersion: 999, mappings: [] });
    writeFileSync(join(home, 'settings.json'), newer);
    const result = keygate(['map', 'list'], { home });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/newer Keygate/);
    expect(readFileSync(join(home, 'settings.json'), 'utf8')).toBe(newer);
    expect(readdirSync(home).some((name) => name.includes('corrupt'))).toBe(false);
  });
});
