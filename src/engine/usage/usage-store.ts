/**
 * `usage.json` beside settings: requests and tokens per agent × mapping × model × local day.
 * Counts only: never a body, a prompt, a secret or a token. Kept small: days older than
 * RETAIN_DAYS are pruned, and at most MAX_ROWS rows are kept (the oldest days go first).
 *
 * Writes are debounced (one per FLUSH_DELAY_MS at most) and merge: the file is re-read under a
 * lock and this process's unsaved counts are added to it, so the app and `serve` sharing a
 * home never lose each other's counts. Atomic write-then-rename, mode 0600.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../atomic-write.js';
import { withFileLock } from '../file-lock.js';
import { defineError, errnoCode } from '../errors.js';

export const USAGE_FILE = 'usage.json';
export const RETAIN_DAYS = 90;
export const MAX_ROWS = 20_000;
export const FLUSH_DELAY_MS = 1_000;
const FILE_MODE = 0o600;
const MAX_MODEL = 100;

export interface UsageKey {
  /** Local day, YYYY-MM-DD. */
  day: string;
  agent: string;
  mapping: string;
  model: string;
}

export interface UsageCounts {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
}

export type UsageRow = UsageKey & UsageCounts;

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const rowSchema = z.object({
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  agent: z.string().min(1).max(200),
  mapping: z.string().min(1).max(2000),
  model: z.string().min(1).max(MAX_MODEL),
  requests: count,
  inputTokens: count,
  outputTokens: count,
  cachedTokens: count.default(0),
});
const fileSchema = z.object({ version: z.literal(1), rows: z.array(rowSchema) });

export class UsageFileError extends defineError('UsageFileError', {
  status: 500,
  code: 'usage_file',
}) {}

/** The local calendar day of `ms` (the budgets' and `keygate usage`'s day). */
export function localDay(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The local day `days` before `ms`'s (0: the same day). */
export function localDayBefore(ms: number, days: number): string {
  const d = new Date(ms);
  d.setDate(d.getDate() - days);
  return localDay(d.getTime());
}

/** Models come from the upstream: printable ASCII only, and short. */
export function cleanModel(model: string | undefined): string {
  const clean = (model ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, MAX_MODEL);
  return clean === '' ? 'unknown' : clean;
}

function keyOf(row: UsageKey): string {
  return JSON.stringify([row.day, row.agent, row.mapping, row.model]);
}

function addInto(rows: Map<string, UsageRow>, row: UsageRow): void {
  const key = keyOf(row);
  const existing = rows.get(key);
  if (!existing) {
    rows.set(key, { ...row });
    return;
  }
  existing.requests += row.requests;
  existing.inputTokens += row.inputTokens;
  existing.outputTokens += row.outputTokens;
  existing.cachedTokens += row.cachedTokens;
}

/** Reads usage.json; a missing file is empty, a bad one a UsageFileError. */
export function readUsageFile(path: string): UsageRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw new UsageFileError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageFileError(`${path} is not JSON`, { cause: err });
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success)
    throw new UsageFileError(`${path} is not a usage file: ${parsed.error.issues[0]?.message}`);
  return parsed.data.rows;
}

/** Drops days before the retention window, then the oldest days past MAX_ROWS. */
export function pruneRows(rows: UsageRow[], nowMs: number): UsageRow[] {
  const oldest = localDayBefore(nowMs, RETAIN_DAYS - 1);
  const kept = rows.filter((row) => row.day >= oldest);
  kept.sort((a, b) => (a.day < b.day ? 1 : a.day > b.day ? -1 : 0));
  return kept.slice(0, MAX_ROWS);
}

export interface UsageStoreOptions {
  readonly home: string;
  readonly now?: () => number;
  readonly flushDelayMs?: number;
  /** Told when a write failed (the counts stay pending and are tried again). */
  readonly onError?: (err: unknown) => void;
}

export class UsageStore {
  readonly path: string;
  readonly #now: () => number;
  readonly #delay: number;
  readonly #onError: (err: unknown) => void;
  /** The file as last read or written. */
  #saved = new Map<string, UsageRow>();
  /** Counts added here and not yet written. */
  #pending = new Map<string, UsageRow>();
  /** Counts being written right now. */
  #inFlight = new Map<string, UsageRow>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<(row: UsageRow) => void>();

  constructor(options: UsageStoreOptions) {
    this.path = join(options.home, USAGE_FILE);
    this.#now = options.now ?? Date.now;
    this.#delay = options.flushDelayMs ?? FLUSH_DELAY_MS;
    this.#onError = options.onError ?? (() => undefined);
    try {
      for (const row of readUsageFile(this.path)) addInto(this.#saved, row);
    } catch (err) {
      // A damaged file is replaced on the next write; the counts it held are lost, said once.
      this.#onError(err);
    }
  }

  /** Counts one answer. */
  add(
    key: Omit<UsageKey, 'day' | 'model'> & { model: string | undefined },
    counts: UsageCounts,
  ): void {
    const row: UsageRow = {
      day: localDay(this.#now()),
      agent: key.agent,
      mapping: key.mapping,
      model: cleanModel(key.model),
      requests: counts.requests,
      inputTokens: counts.inputTokens,
      outputTokens: counts.outputTokens,
      cachedTokens: counts.cachedTokens,
    };
    addInto(this.#pending, row);
    for (const listener of [...this.#listeners]) listener(row);
    this.#schedule();
  }

  /** Told of every count added in this process (the budgets follow tokens this way). */
  onAdd(listener: (row: UsageRow) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Saved and pending rows together. */
  rows(): UsageRow[] {
    const all = new Map<string, UsageRow>();
    for (const row of this.#saved.values()) addInto(all, row);
    for (const row of this.#inFlight.values()) addInto(all, row);
    for (const row of this.#pending.values()) addInto(all, row);
    return [...all.values()];
  }

  /** Input plus output tokens on a local day, for an agent (and a mapping, when given). */
  tokensOn(day: string, agent: string, mapping?: string): number {
    let total = 0;
    for (const source of [this.#saved, this.#inFlight, this.#pending])
      for (const row of source.values())
        if (
          row.day === day &&
          row.agent === agent &&
          (mapping === undefined || row.mapping === mapping)
        )
          total += row.inputTokens + row.outputTokens;
    return total;
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(this.#onError);
    }, this.#delay);
    this.#timer.unref();
  }

  /** Writes pending counts now (serialised with any write under way). */
  flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#flushing = this.#flushing.catch(() => undefined).then(() => this.#write());
    return this.#flushing;
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const pending = this.#pending;
    this.#pending = new Map();
    this.#inFlight = pending;
    try {
      await withFileLock(
        `${this.path}.lock`,
        { error: (reason, cause) => new UsageFileError(`usage.json lock ${reason}`, { cause }) },
        async () => {
          let onDisk: UsageRow[];
          try {
            onDisk = readUsageFile(this.path);
          } catch (err) {
            this.#onError(err);
            onDisk = [];
          }
          const merged = new Map<string, UsageRow>();
          for (const row of onDisk) addInto(merged, row);
          for (const row of pending.values()) addInto(merged, row);
          const rows = pruneRows([...merged.values()], this.#now());
          await writeFileAtomic(this.path, `${JSON.stringify({ version: 1, rows })}\n`, FILE_MODE);
          this.#saved = new Map(rows.map((row) => [keyOf(row), row]));
          this.#inFlight = new Map();
        },
      );
    } catch (err) {
      // Not lost: back into pending, for the next write.
      this.#inFlight = new Map();
      for (const row of pending.values()) addInto(this.#pending, row);
      this.#schedule();
      throw new UsageFileError(`could not write ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Writes what is pending; the store may still be read afterwards. */
  async close(): Promise<void> {
    await this.flush();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
