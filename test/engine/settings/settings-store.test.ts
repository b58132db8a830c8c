import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SettingsError } from '../../../src/engine/errors.js';
import { SettingsStore } from '../../../src/engine/settings/settings-store.js';
import {
  DEFAULT_PROXY_HOST,
  DEFAULT_PROXY_PORT,
  SETTINGS_SCHEMA_VERSION,
  type Mapping,
} from '../../../src/shared/settings-schema.js';

const WATCH_TIMEOUT = { timeout: 10_000, interval: 100 };

const openaiMapping: Mapping = {
  host: 'api.openai.com',
  ref: 'op://Private/OpenAI/credential',
  injector: { type: 'bearer' },
};

let tmp: string;
let home: string;
let settingsPath: string;
const opened: SettingsStore[] = [];

function open(options?: Parameters<typeof SettingsStore.open>[1], at = home): SettingsStore {
  const store = SettingsStore.open(at, options);
  opened.push(store);
  return store;
}

function mode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

function readJson(p: string): unknown {
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

function corruptFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.startsWith('settings.json.corrupt-'));
}

/** What a SettingsError threw by `fn` says; fails the test when `fn` does not throw one. */
function settingsErrorOf(fn: () => unknown): SettingsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return error as SettingsError;
  }
  throw new Error('expected a SettingsError, nothing was thrown');
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-settings-'));
  home = path.join(tmp, 'home');
  settingsPath = path.join(home, 'settings.json');
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('SettingsStore.open', () => {
  it('creates defaults on a fresh home', () => {
    const store = open();
    expect(store.path).toBe(settingsPath);
    expect(store.recoveredFrom).toBeUndefined();
    const expected = {
      schemaVersion: SETTINGS_SCHEMA_VERSION,
      proxy: {
        host: DEFAULT_PROXY_HOST,
        port: DEFAULT_PROXY_PORT,
        denyUnmapped: false,
        enabled: true,
      },
      mappings: [],
      agents: [],
      onePassword: {},
    };
    expect(store.get()).toEqual(expected);
    expect(readJson(settingsPath)).toEqual(expected);
  });

  it('creates home 0700 and the file 0600', () => {
    open();
    expect(mode(home)).toBe(0o700);
    expect(mode(settingsPath)).toBe(0o600);
  });

  it('leaves an existing looser home alone but tightens the file to 0600', () => {
    fs.mkdirSync(home, { mode: 0o755 });
    fs.chmodSync(home, 0o755);
    fs.writeFileSync(settingsPath, JSON.stringify({ schemaVersion: 1 }), { mode: 0o644 });
    fs.chmodSync(settingsPath, 0o644);
    open();
    expect(mode(home)).toBe(0o755);
    expect(mode(settingsPath)).toBe(0o600);
  });

  it('keeps corrupt JSON aside and recovers with defaults', () => {
    fs.mkdirSync(home, { mode: 0o700 });
    const garbage = '{"agents": [{"token": "not-a-real-token" ';
    fs.writeFileSync(settingsPath, garbage, { mode: 0o600 });
    const onRecovered = vi.fn();

    const store = open({ onRecovered });

    const [kept] = corruptFiles(home);
    expect(kept).toMatch(/^settings\.json\.corrupt-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/);
    const keptPath = path.join(home, kept!);
    expect(fs.readFileSync(keptPath, 'utf8')).toBe(garbage);
    expect(store.recoveredFrom).toBe(keptPath);
    expect(onRecovered).toHaveBeenCalledOnce();
    expect(onRecovered).toHaveBeenCalledWith({ corruptPath: keptPath, reason: 'not valid JSON' });
    expect(store.get().mappings).toEqual([]);
    expect(readJson(settingsPath)).toEqual(store.get());
    expect(mode(settingsPath)).toBe(0o600);
  });

  it('keeps schema-invalid JSON aside, naming the failing paths', () => {
    fs.mkdirSync(home, { mode: 0o700 });
    const invalid = JSON.stringify({ schemaVersion: 1, proxy: { port: 'eighty' }, mappings: [{}] });
    fs.writeFileSync(settingsPath, invalid, { mode: 0o600 });
    const onRecovered = vi.fn();

    const store = open({ onRecovered });

    expect(store.recoveredFrom).toBeDefined();
    expect(fs.readFileSync(store.recoveredFrom!, 'utf8')).toBe(invalid);
    const reason = (onRecovered.mock.calls[0]![0] as { reason: string }).reason;
    expect(reason).toContain('proxy.port');
    expect(reason).toContain('mappings[0].host');
    expect(store.get().proxy.port).toBe(DEFAULT_PROXY_PORT);
  });

  it('refuses a file from a newer Keygate and leaves it untouched', () => {
    fs.mkdirSync(home, { mode: 0o700 });
    const future = JSON.stringify({ schemaVersion: SETTINGS_SCHEMA_VERSION + 1, newThing: true });
    fs.writeFileSync(settingsPath, future, { mode: 0o600 });
    const before = fs.statSync(settingsPath);

    const error = settingsErrorOf(() => open());

    expect(error.message).toContain(
      `settings.json was written by a newer Keygate (schema ${SETTINGS_SCHEMA_VERSION + 1}); refusing to overwrite it`,
    );
    expect(fs.readFileSync(settingsPath, 'utf8')).toBe(future);
    expect(fs.statSync(settingsPath).mtimeMs).toBe(before.mtimeMs);
    expect(corruptFiles(home)).toEqual([]);
  });

  it('migrates a file without schemaVersion and writes it back', () => {
    fs.mkdirSync(home, { mode: 0o700 });
    fs.writeFileSync(settingsPath, JSON.stringify({ mappings: [openaiMapping] }), { mode: 0o600 });

    const store = open();

    expect(store.recoveredFrom).toBeUndefined();
    expect(store.get().schemaVersion).toBe(1);
    expect(store.get().mappings).toEqual([openaiMapping]);
    expect(readJson(settingsPath)).toMatchObject({ schemaVersion: 1, mappings: [openaiMapping] });
  });

  it('fails with SettingsError naming the path and errno when home cannot be created', () => {
    // chmod does not stop root, so home is put under a regular file: ENOTDIR for everyone.
    const file = path.join(tmp, 'file');
    fs.writeFileSync(file, '');
    const unreachable = path.join(file, 'home');

    const error = settingsErrorOf(() => open({}, unreachable));

    expect(error.message).toContain(unreachable);
    expect(error.message).toContain('ENOTDIR');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');
  });
});

describe('SettingsStore.get', () => {
  it('hands out a frozen object the caller cannot change', () => {
    const store = open();
    const settings = store.get();
    expect(() => {
      settings.mappings.push(openaiMapping);
    }).toThrow(TypeError);
    expect(() => {
      settings.proxy.port = 1;
    }).toThrow(TypeError);
    expect(store.get().mappings).toEqual([]);
  });
});

describe('SettingsStore.update', () => {
  it('round-trips through the file and a second open', () => {
    const store = open();
    const saved = store.update((draft) => {
      draft.mappings.push(openaiMapping);
      draft.proxy.port = 9999;
    });
    expect(saved.mappings).toEqual([openaiMapping]);
    expect(store.get()).toEqual(saved);

    const replaced = store.update((draft) => ({ ...draft, agents: [] }));
    expect(replaced).toEqual(saved);

    store.close();
    const reopened = open();
    expect(reopened.get()).toEqual(saved);
    expect(mode(settingsPath)).toBe(0o600);
  });

  it('applies defaults inside the saved value (header format)', () => {
    const store = open();
    const saved = store.update((draft) => {
      draft.mappings.push({
        host: 'api.example.com',
        ref: 'env://EXAMPLE_KEY',
        // Callers may leave out what the schema defaults.
        injector: { type: 'header', name: 'x-token' } as Mapping['injector'],
      });
    });
    expect(saved.mappings[0]!.injector).toEqual({
      type: 'header',
      name: 'x-token',
      format: '{secret}',
    });
  });

  it('rejects invalid settings with SettingsError and leaves the file unchanged', () => {
    const store = open();
    store.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    const before = fs.readFileSync(settingsPath, 'utf8');
    const good = store.get();

    const error = settingsErrorOf(() =>
      store.update((draft) => {
        draft.proxy.port = 70_000;
        draft.mappings.push({ host: '', ref: 'x', injector: { type: 'bearer' } });
      }),
    );

    expect(error.message).toMatch(/^Invalid settings: /);
    expect(error.message).toContain('proxy.port');
    expect(error.message).toContain('mappings[1].host');
    expect(fs.readFileSync(settingsPath, 'utf8')).toBe(before);
    expect(store.get()).toBe(good);
  });

  it('refuses to change schemaVersion', () => {
    const store = open();
    const error = settingsErrorOf(() =>
      store.update((draft) => {
        draft.schemaVersion = SETTINGS_SCHEMA_VERSION + 1;
      }),
    );
    expect(error.message).toContain('schemaVersion');
    expect(readJson(settingsPath)).toMatchObject({ schemaVersion: SETTINGS_SCHEMA_VERSION });
  });

  it('builds on what another process wrote since open', () => {
    const serve = open();
    const cli = open();
    cli.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    const saved = serve.update((draft) => {
      draft.proxy.denyUnmapped = true;
    });
    expect(saved.mappings).toEqual([openaiMapping]);
    expect(saved.proxy.denyUnmapped).toBe(true);
  });

  it('keeps a file that turned corrupt after open aside before writing', () => {
    const onRecovered = vi.fn();
    const store = open({ onRecovered });
    store.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    fs.writeFileSync(settingsPath, '{ half an edit');

    const saved = store.update((draft) => {
      draft.proxy.enabled = false;
    });

    expect(onRecovered).toHaveBeenCalledOnce();
    const [kept] = corruptFiles(home);
    expect(fs.readFileSync(path.join(home, kept!), 'utf8')).toBe('{ half an edit');
    expect(saved.mappings).toEqual([openaiMapping]);
    expect(saved.proxy.enabled).toBe(false);
    expect(readJson(settingsPath)).toEqual(saved);
  });

  it('notifies onChange listeners synchronously, and not after unsubscribing', () => {
    const store = open();
    const listener = vi.fn();
    const unsubscribe = store.onChange(listener);
    const saved = store.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    expect(listener).toHaveBeenCalledExactlyOnceWith(saved);

    store.update(() => undefined); // no change: nothing to report
    expect(listener).toHaveBeenCalledOnce();

    unsubscribe();
    store.update((draft) => {
      draft.mappings = [];
    });
    expect(listener).toHaveBeenCalledOnce();
  });

  it('replaces a read-only (0444) file: the atomic rename does not need write permission on it', () => {
    // Worth pinning: chmod 0444 is no way to protect settings.json from Keygate, for any user.
    const store = open();
    fs.chmodSync(settingsPath, 0o444);
    store.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    expect(readJson(settingsPath)).toMatchObject({ mappings: [openaiMapping] });
    expect(mode(settingsPath)).toBe(0o600);
  });

  it('fails with the path and errno, keeping the last good settings, when home stops being a directory', () => {
    // Works as root too: nothing can be read or written below a regular file (ENOTDIR).
    const store = open();
    const good = store.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    const movedHome = path.join(tmp, 'moved-home');
    const onDisk = fs.readFileSync(settingsPath, 'utf8');
    fs.renameSync(home, movedHome);
    fs.writeFileSync(home, 'not a directory');

    const error = settingsErrorOf(() =>
      store.update((draft) => {
        draft.proxy.port = 1234;
      }),
    );

    expect(error.message).toContain(settingsPath);
    expect(error.message).toContain('ENOTDIR');
    expect(store.get()).toBe(good);
    expect(fs.readFileSync(path.join(movedHome, 'settings.json'), 'utf8')).toBe(onDisk);
  });

  it.runIf(process.platform === 'linux')(
    'fails with the path and errno, keeping the last good settings, when the write fails but the read works',
    () => {
      // Root ignores permission bits, so the write is made to fail with a real errno another
      // way: on Linux a path may be at most 4095 bytes, and conf's atomic write goes through a
      // temporary file whose name is 21 bytes longer than settings.json's. With home ~4070 bytes
      // long, settings.json can be read but the temporary file cannot be created
      // (ENAMETOOLONG), for root and everyone else alike.
      let deepHome = tmp;
      while (deepHome.length < 4070) {
        deepHome = path.join(
          deepHome,
          'd'.repeat(Math.max(1, Math.min(200, 4069 - deepHome.length))),
        );
      }
      const deepSettings = path.join(deepHome, 'settings.json');
      expect(deepSettings.length).toBeLessThan(4096);
      expect(deepSettings.length + '.tmp-0123456789abcdef'.length).toBeGreaterThanOrEqual(4096);
      fs.mkdirSync(deepHome, { recursive: true, mode: 0o700 });
      const onDisk = `${JSON.stringify({ schemaVersion: 1, mappings: [openaiMapping] })}\n`;
      fs.writeFileSync(deepSettings, onDisk, { mode: 0o600 });
      const store = open({}, deepHome);
      const good = store.get();

      const error = settingsErrorOf(() =>
        store.update((draft) => {
          draft.proxy.port = 1234;
        }),
      );

      expect(error.message).toContain(`Could not save settings to ${deepSettings}`);
      expect(error.message).toContain('ENAMETOOLONG');
      expect(store.get()).toBe(good);
      expect(fs.readFileSync(deepSettings, 'utf8')).toBe(onDisk);
    },
  );
});

describe('watching across processes', () => {
  it.runIf(process.platform === 'linux')(
    'does not load conf (nor its ajv) on Linux, where the poller does the watching',
    () => {
      const serve = open({ watch: true });
      expect(serve.get().schemaVersion).toBe(1);
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      expect(loaded.filter((file) => /\/node_modules\/(ajv|conf)\//.test(file))).toEqual([]);
    },
  );

  it("sees another instance's write through onChange", async () => {
    const serve = open({ watch: true });
    const cli = open();
    const listener = vi.fn();
    serve.onChange(listener);

    const saved = cli.update((draft) => {
      draft.mappings.push(openaiMapping);
    });

    await vi.waitFor(() => expect(listener).toHaveBeenCalledWith(saved), WATCH_TIMEOUT);
    expect(serve.get()).toEqual(saved);
  });

  it('keeps the last good settings and calls onInvalid on an invalid external write', async () => {
    const onInvalid = vi.fn();
    const serve = open({ watch: true, onInvalid });
    const good = serve.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    const listener = vi.fn();
    serve.onChange(listener);

    fs.writeFileSync(settingsPath, JSON.stringify({ schemaVersion: 1, proxy: { port: -1 } }));

    await vi.waitFor(() => expect(onInvalid).toHaveBeenCalled(), WATCH_TIMEOUT);
    expect((onInvalid.mock.calls[0]![0] as { reason: string }).reason).toContain('proxy.port');
    expect(serve.get()).toBe(good);
    expect(listener).not.toHaveBeenCalled();
    // The watcher never moves or rewrites the file: the writer may still be fixing it.
    expect(corruptFiles(home)).toEqual([]);
  });

  it('stops reporting after close', async () => {
    const serve = open({ watch: true });
    const cli = open();
    const listener = vi.fn();
    serve.onChange(listener);
    serve.close();

    cli.update((draft) => {
      draft.mappings.push(openaiMapping);
    });

    // Long enough for conf's 500 ms poll plus its 1 s debounce.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(listener).not.toHaveBeenCalled();
  });
});

describe('a settings.json planted as a symlink (issue 9 §4)', () => {
  it('is refused, named, and neither it nor its target is written or chmod-ed', () => {
    const store = open();
    store.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    const victim = path.join(tmp, 'victim.txt');
    fs.writeFileSync(victim, 'the user’s own file', { mode: 0o644 });
    fs.rmSync(settingsPath);
    fs.symlinkSync(victim, settingsPath);

    const onUpdate = settingsErrorOf(() =>
      store.update((draft) => {
        draft.proxy.port = 1234;
      }),
    );
    const onOpen = settingsErrorOf(() => SettingsStore.open(home));

    for (const error of [onUpdate, onOpen]) {
      expect(error.message).toContain(`${settingsPath} is a symbolic link`);
    }
    expect(fs.readFileSync(victim, 'utf8')).toBe('the user’s own file');
    expect(mode(victim)).toBe(0o644);
    expect(fs.lstatSync(settingsPath).isSymbolicLink()).toBe(true);
    expect(corruptFiles(home)).toEqual([]);
  });

  it('is reported by a watching store, which keeps its last good settings', async () => {
    const onInvalid = vi.fn();
    const serve = open({ watch: true, onInvalid });
    const good = serve.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    const elsewhere = path.join(tmp, 'elsewhere.json');
    fs.writeFileSync(elsewhere, JSON.stringify({ schemaVersion: 1 }));
    fs.rmSync(settingsPath);
    fs.symlinkSync(elsewhere, settingsPath);

    await vi.waitFor(() => expect(onInvalid).toHaveBeenCalled(), WATCH_TIMEOUT);
    expect((onInvalid.mock.calls[0]![0] as { reason: string }).reason).toContain(
      'is a symbolic link',
    );
    expect(serve.get()).toBe(good);
  });
});

describe('a dangling symlink planted at settings.json.lock (issue 9 §4)', () => {
  it('is taken over at once: open and update neither spin nor wait', () => {
    const store = open();
    fs.symlinkSync(path.join(tmp, 'nowhere'), `${settingsPath}.lock`);
    const started = Date.now();
    const cpu = process.cpuUsage();
    store.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    fs.symlinkSync(path.join(tmp, 'nowhere'), `${settingsPath}.lock`);
    fs.rmSync(settingsPath);
    expect(open().get().mappings).toEqual([]);
    const used = process.cpuUsage(cpu);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((used.user + used.system) / 1000).toBeLessThan(1_000);
    // lstat, not existsSync: a lock is a symlink to a pid, which existsSync follows.
    expect(fs.lstatSync(`${settingsPath}.lock`, { throwIfNoEntry: false })).toBeUndefined();
  });
});

describe('reading needs no lock (issue 9 §4: `map list` on a read-only home)', () => {
  it('opens an existing valid file without creating the lock file', () => {
    open().update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    const opens = vi.spyOn(fs, 'openSync');
    const links = vi.spyOn(fs, 'symlinkSync');
    const reader = open();
    expect(reader.get().mappings).toHaveLength(1);
    const lockMade = [...opens.mock.calls, ...links.mock.calls].filter(([a, b]) =>
      [a, b].some((file) => String(file).endsWith('.lock')),
    );
    opens.mockRestore();
    links.mockRestore();
    expect(lockMade).toEqual([]);
    expect(fs.readdirSync(home).sort()).toEqual(['settings.json']);
  });
});

describe('validate: checks beyond the schema (issue 9 §4)', () => {
  const noDuplicateHosts = (settings: { mappings: readonly Mapping[] }): void => {
    const hosts = settings.mappings.map((mapping) => mapping.host.toLowerCase());
    if (new Set(hosts).size !== hosts.length) throw new Error('duplicate host');
  };

  it('refuses an update that fails it, writing nothing', () => {
    const store = open({ validate: noDuplicateHosts });
    store.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    const before = fs.readFileSync(settingsPath, 'utf8');
    const error = settingsErrorOf(() =>
      store.update((draft) => {
        draft.mappings.push({ ...openaiMapping, host: 'API.OPENAI.COM' });
      }),
    );
    expect(error.message).toBe('Invalid settings: duplicate host');
    expect(fs.readFileSync(settingsPath, 'utf8')).toBe(before);
  });

  it('keeps the last good settings when an external write fails it, and says why', async () => {
    const onInvalid = vi.fn();
    const serve = open({ watch: true, onInvalid, validate: noDuplicateHosts });
    const good = serve.update((draft) => {
      draft.mappings.push(openaiMapping);
    });
    const listener = vi.fn();
    serve.onChange(listener);

    fs.writeFileSync(
      settingsPath,
      JSON.stringify({
        schemaVersion: 1,
        mappings: [openaiMapping, { ...openaiMapping, host: 'API.OPENAI.COM' }],
      }),
    );

    await vi.waitFor(() => expect(onInvalid).toHaveBeenCalled(), WATCH_TIMEOUT);
    expect((onInvalid.mock.calls[0]![0] as { reason: string }).reason).toContain(
      'does not compile (Invalid settings: duplicate host); keeping the last good settings',
    );
    expect(serve.get()).toBe(good);
    expect(listener).not.toHaveBeenCalled();
  });
});
