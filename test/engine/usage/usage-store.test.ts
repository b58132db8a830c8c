import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanModel,
  localDay,
  MAX_ROWS,
  pruneRows,
  readUsageFile,
  RETAIN_DAYS,
  USAGE_FILE,
  UsageFileError,
  UsageStore,
  type UsageRow,
} from '../../../src/engine/usage/usage-store.js';

const homes: string[] = [];
function home(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-usage-'));
  homes.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of homes.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const NOW = new Date(2026, 11, 3, 12, 0, 0).getTime();
const counts = (input: number, output: number, cached = 0) => ({
  requests: 1,
  inputTokens: input,
  outputTokens: output,
  cachedTokens: cached,
});

describe('UsageStore', () => {
  it('counts per agent × mapping × model × local day, and merges on write', async () => {
    const dir = home();
    let now = NOW;
    const store = new UsageStore({ home: dir, now: () => now, flushDelayMs: 60_000 });
    store.add({ agent: 'claude', mapping: 'api.anthropic.com', model: 'm1' }, counts(10, 5, 2));
    store.add({ agent: 'claude', mapping: 'api.anthropic.com', model: 'm1' }, counts(1, 1));
    store.add({ agent: 'claude', mapping: 'api.anthropic.com', model: 'm2' }, counts(3, 3));
    store.add({ agent: 'codex', mapping: 'api.openai.com', model: 'm1' }, counts(7, 0));
    now += 24 * 60 * 60 * 1000;
    store.add({ agent: 'claude', mapping: 'api.anthropic.com', model: 'm1' }, counts(100, 0));
    await store.close();

    const rows = readUsageFile(join(dir, USAGE_FILE));
    const find = (agent: string, model: string, day: string) =>
      rows.find((r) => r.agent === agent && r.model === model && r.day === day);
    const today = localDay(NOW);
    const tomorrow = localDay(now);
    expect(find('claude', 'm1', today)).toMatchObject({
      requests: 2,
      inputTokens: 11,
      outputTokens: 6,
      cachedTokens: 2,
    });
    expect(find('claude', 'm2', today)).toMatchObject({ requests: 1, inputTokens: 3 });
    expect(find('codex', 'm1', today)).toMatchObject({ requests: 1, inputTokens: 7 });
    expect(find('claude', 'm1', tomorrow)).toMatchObject({ requests: 1, inputTokens: 100 });
    expect(rows).toHaveLength(4);
    expect(store.tokensOn(today, 'claude')).toBe(11 + 6 + 6);
    expect(store.tokensOn(today, 'claude', 'api.openai.com')).toBe(0);

    // A second process sharing the home adds to the file, never overwrites it.
    const other = new UsageStore({ home: dir, now: () => NOW, flushDelayMs: 60_000 });
    other.add({ agent: 'codex', mapping: 'api.openai.com', model: 'm1' }, counts(1, 1));
    await other.close();
    expect(
      readUsageFile(join(dir, USAGE_FILE)).find((r) => r.agent === 'codex' && r.day === today),
    ).toMatchObject({ requests: 2, inputTokens: 8, outputTokens: 1 });
  });

  it('writes mode 0600 atomically, leaves no temp file, and holds only counts', async () => {
    const dir = home();
    const store = new UsageStore({ home: dir, now: () => NOW });
    store.add({ agent: 'claude', mapping: 'api.anthropic.com', model: 'claude-x' }, counts(1, 2));
    await store.close();
    const path = join(dir, USAGE_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    const json = JSON.parse(readFileSync(path, 'utf8')) as { version: number; rows: object[] };
    expect(json.version).toBe(1);
    expect(Object.keys(json.rows[0]!).sort()).toEqual(
      [
        'agent',
        'cachedTokens',
        'day',
        'inputTokens',
        'mapping',
        'model',
        'outputTokens',
        'requests',
      ].sort(),
    );
  });

  it('writes nothing until there is something to write, and debounces', async () => {
    const dir = home();
    const store = new UsageStore({ home: dir, now: () => NOW, flushDelayMs: 20 });
    await store.flush();
    expect(readdirSync(dir)).not.toContain(USAGE_FILE);
    store.add({ agent: 'a', mapping: 'm', model: 'x' }, counts(1, 1));
    await new Promise((r) => setTimeout(r, 200));
    expect(readUsageFile(join(dir, USAGE_FILE))).toHaveLength(1);
    await store.close();
  });

  it('a corrupt file is a named error to readers and is recovered from by the store', async () => {
    const dir = home();
    const path = join(dir, USAGE_FILE);
    writeFileSync(path, '{"version":1,"rows":[{"day":"x"', { mode: 0o600 });
    expect(() => readUsageFile(path)).toThrow(UsageFileError);
    writeFileSync(path, JSON.stringify({ version: 2, rows: [] }));
    expect(() => readUsageFile(path)).toThrow(/is not a usage file/);
    writeFileSync(
      path,
      JSON.stringify({
        version: 1,
        rows: [
          {
            day: '2026-01-01',
            agent: 'a',
            mapping: 'm',
            model: 'x',
            requests: -1,
            inputTokens: 0,
            outputTokens: 0,
          },
        ],
      }),
    );
    expect(() => readUsageFile(path)).toThrow(UsageFileError);

    const errors: unknown[] = [];
    const store = new UsageStore({ home: dir, now: () => NOW, onError: (e) => errors.push(e) });
    expect(errors[0]).toBeInstanceOf(UsageFileError);
    expect(store.rows()).toEqual([]);
    store.add({ agent: 'a', mapping: 'm', model: 'x' }, counts(4, 4));
    await store.close();
    expect(readUsageFile(path)).toEqual([
      expect.objectContaining({ agent: 'a', inputTokens: 4, outputTokens: 4 }),
    ]);
  });

  it('a failed write keeps the counts pending and says so with a named error', async () => {
    const dir = home();
    const errors: unknown[] = [];
    const store = new UsageStore({
      home: join(dir, 'missing-dir'),
      now: () => NOW,
      flushDelayMs: 60_000,
      onError: (e) => errors.push(e),
    });
    store.add({ agent: 'a', mapping: 'm', model: 'x' }, counts(2, 3));
    await expect(store.flush()).rejects.toBeInstanceOf(UsageFileError);
    expect(store.tokensOn(localDay(NOW), 'a')).toBe(5);
    await store.close().catch(() => undefined);
  });

  it('keeps model names short and printable; missing is "unknown"', () => {
    expect(cleanModel(undefined)).toBe('unknown');
    expect(cleanModel('')).toBe('unknown');
    expect(cleanModel('gpt\n-4o\u0000 x')).toBe('gpt-4ox');
    expect(cleanModel('m'.repeat(500))).toHaveLength(100);
  });

  it('prunes days past retention and the oldest days past MAX_ROWS', () => {
    const row = (day: string, agent = 'a'): UsageRow => ({
      day,
      agent,
      mapping: 'm',
      model: 'x',
      requests: 1,
      inputTokens: 1,
      outputTokens: 1,
      cachedTokens: 0,
    });
    const old = localDay(NOW - (RETAIN_DAYS + 2) * 24 * 60 * 60 * 1000);
    expect(pruneRows([row(old), row(localDay(NOW))], NOW).map((r) => r.day)).toEqual([
      localDay(NOW),
    ]);
    const many = Array.from({ length: MAX_ROWS + 5 }, (_, i) => row(localDay(NOW), `a${i}`));
    many.push(row(localDay(NOW - 24 * 60 * 60 * 1000), 'oldest'));
    const kept = pruneRows(many, NOW);
    expect(kept).toHaveLength(MAX_ROWS);
    expect(kept.some((r) => r.agent === 'oldest')).toBe(false);
  });
});
