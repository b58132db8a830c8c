import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS_SCHEMA_VERSION, settingsSchema } from '../../../src/shared/settings-schema.js';
import { SettingsError } from '../../../src/engine/errors.js';
import {
  defaultSettings,
  describeError,
  formatIssues,
  keepAside,
  readSettingsFile,
  serialize,
  settingsLock,
} from '../../../src/engine/settings/settings-file.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-settings-file-');
const TOKEN = 'agent-token-that-must-not-show-0123456789abcdef';

function fileWith(text: string): string {
  const file = join(tempDir(), 'settings.json');
  writeFileSync(file, text);
  return file;
}

describe('readSettingsFile', () => {
  it('tells missing, valid and migrated files apart', () => {
    expect(readSettingsFile(join(tempDir(), 'settings.json'))).toEqual({ kind: 'missing' });
    const valid = readSettingsFile(fileWith(serialize(defaultSettings())));
    expect(valid).toMatchObject({ kind: 'valid', migrated: false });
    const old = readSettingsFile(fileWith(JSON.stringify({ mappings: [] })));
    expect(old).toMatchObject({ kind: 'valid', migrated: true });
  });

  it('reads a file an editor saved with a byte order mark', () => {
    const read = readSettingsFile(fileWith(`\uFEFF${serialize(defaultSettings())}`));
    expect(read.kind).toBe('valid');
  });

  it('calls bad JSON and schema failures corrupt without quoting the file (it holds tokens)', () => {
    const json = readSettingsFile(fileWith(`{"agents":[{"token":"${TOKEN}"`));
    expect(json).toEqual({ kind: 'corrupt', reason: 'not valid JSON' });
    const schema = readSettingsFile(
      fileWith(
        JSON.stringify({
          schemaVersion: SETTINGS_SCHEMA_VERSION,
          agents: [{ name: 'bad name', token: TOKEN, createdAt: 'x' }],
        }),
      ),
    );
    expect(schema.kind).toBe('corrupt');
    expect(JSON.stringify(schema)).toMatch(/agents\[0\]\.name: /);
    expect(JSON.stringify(schema)).not.toContain(TOKEN);
  });

  it('refuses, rather than calling corrupt, a file from a newer Keygate', () => {
    const file = fileWith(JSON.stringify({ schemaVersion: SETTINGS_SCHEMA_VERSION + 1 }));
    expect(() => readSettingsFile(file)).toThrow(SettingsError);
    expect(() => readSettingsFile(file)).toThrow(/written by a newer Keygate/);
  });

  it('refuses a symlink and never blocks on a FIFO planted in the file’s place', () => {
    const dir = tempDir();
    const target = join(dir, 'elsewhere.json');
    writeFileSync(target, serialize(defaultSettings()));
    const link = join(dir, 'settings.json');
    symlinkSync(target, link);
    expect(() => readSettingsFile(link)).toThrow(/is a symbolic link/);
    const fifo = join(tempDir(), 'settings.json');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const started = Date.now();
    // A FIFO with no writer reads as empty: not JSON, so corrupt, at once.
    expect(readSettingsFile(fifo)).toEqual({ kind: 'corrupt', reason: 'not valid JSON' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('keepAside', () => {
  it('moves a corrupt file aside under a new name each time, never over an earlier one', () => {
    const dir = tempDir();
    const file = join(dir, 'settings.json');
    const kept = [1, 2, 3].map((n) => {
      writeFileSync(file, `corrupt ${n}`);
      return keepAside(file, 'not valid JSON');
    });
    expect(new Set(kept).size).toBe(3);
    expect(existsSync(file)).toBe(false);
    expect(kept.map((path) => readFileSync(path, 'utf8'))).toEqual([
      'corrupt 1',
      'corrupt 2',
      'corrupt 3',
    ]);
    expect(readdirSync(dir).every((name) => name.startsWith('settings.json.corrupt-'))).toBe(true);
  });

  it('names the file and the reason when it cannot move it', () => {
    const missing = join(tempDir(), 'settings.json');
    expect(() => keepAside(missing, 'not valid JSON')).toThrow(
      new RegExp(
        `${missing} is corrupt \\(not valid JSON\\) and could not be moved aside .*ENOENT`,
      ),
    );
  });
});

describe('messages', () => {
  it('formatIssues names the path and the rule of every issue, never the value', () => {
    const result = settingsSchema.safeParse({
      proxy: { port: 70_000 },
      agents: [{ name: TOKEN, token: 'short', createdAt: 'x' }],
    });
    expect(result.success).toBe(false);
    if (result.success) return;
    const text = formatIssues(result.error);
    expect(text).toMatch(/proxy\.port: /);
    expect(text).toMatch(/agents\[0\]\.token: /);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('short');
  });

  it('describeError leads with the errno code once', () => {
    const withCode = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    expect(describeError(withCode)).toBe('ENOENT: no such file');
    expect(describeError(Object.assign(new Error('EACCES: denied'), { code: 'EACCES' }))).toBe(
      'EACCES: denied',
    );
    expect(describeError('plain')).toBe('plain');
  });

  it('the lock’s errors say which file to remove, or why the lock could not be made', () => {
    const lock = settingsLock('/h/settings.json');
    expect(lock.error('held').message).toBe(
      'Could not save settings to /h/settings.json: another Keygate process holds /h/settings.json.lock; if none is running, delete that file',
    );
    const failed = lock.error('failed', Object.assign(new Error('read-only'), { code: 'EROFS' }));
    expect(failed).toBeInstanceOf(SettingsError);
    expect(failed.message).toBe('Could not save settings to /h/settings.json: EROFS: read-only');
  });
});
