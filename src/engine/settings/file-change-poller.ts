/**
 * Polls one file's stat and reports when it changed and then stayed put for one more poll.
 *
 * Why not `fs.watchFile` (what conf uses on Linux): its first stat, the baseline later stats are
 * compared with, runs asynchronously on the libuv threadpool. A write made right after the watch
 * starts (the CLI saving while `serve` is still opening its store) can land before that first stat,
 * become the baseline, and never be reported. CI caught exactly that on a loaded machine. Here the
 * baseline is taken synchronously by whoever owns the file, after each of its own writes.
 *
 * A change is reported once the stat is the same on two polls in a row, so an editor that writes in
 * several steps is read once, whole, rather than once per step.
 */
import fs from 'node:fs';

export interface FileStamp {
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/** The file's identity and version; `undefined` when it does not exist. */
export function stampOf(filePath: string): FileStamp | undefined {
  const stat = fs.statSync(filePath, { bigint: true, throwIfNoEntry: false });
  return stat && toStamp(stat);
}

export class FileChangePoller {
  readonly #filePath: string;
  readonly #onChange: () => void;
  readonly #timer: NodeJS.Timeout;
  /** What the owner last read or wrote. */
  #known: FileStamp | undefined;
  /** A stamp seen on the last poll (`undefined`: the file was gone), reported if seen again. */
  #pending: FileStamp | undefined | typeof NOTHING_PENDING = NOTHING_PENDING;
  #polling = false;
  #closed = false;

  constructor(filePath: string, onChange: () => void, intervalMs = 500) {
    this.#filePath = filePath;
    this.#onChange = onChange;
    this.#known = stampOf(filePath);
    // unref: a watcher alone must not keep `keygate serve`, the CLI or a test process alive.
    this.#timer = setInterval(() => void this.#poll(), intervalMs).unref();
  }

  /** The owner read or wrote the file: what is there now is known, not a change. */
  rebaseline(): void {
    this.#known = stampOf(this.#filePath);
    this.#pending = NOTHING_PENDING;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  async #poll(): Promise<void> {
    // A slow disk must not stack stats up behind each other.
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      const stat = await fs.promises
        .stat(this.#filePath, { bigint: true })
        .catch((error: NodeJS.ErrnoException) => {
          // A missing file is a state the owner reports (it keeps its last good settings); any
          // other stat failure is retried on the next poll rather than thrown from a timer.
          if (error.code === 'ENOENT') return undefined;
          return 'retry' as const;
        });
      if (stat === 'retry' || this.#closed) return;
      const now = stat && toStamp(stat);
      if (sameStamp(now, this.#known)) {
        this.#pending = NOTHING_PENDING;
        return;
      }
      if (this.#pending === NOTHING_PENDING || !sameStamp(now, this.#pending)) {
        this.#pending = now;
        return;
      }
      this.#known = now;
      this.#pending = NOTHING_PENDING;
      this.#onChange();
    } finally {
      this.#polling = false;
    }
  }
}

const NOTHING_PENDING = Symbol('nothing pending');

function toStamp(stat: fs.BigIntStats): FileStamp {
  return { ino: stat.ino, size: stat.size, mtimeNs: stat.mtimeNs, ctimeNs: stat.ctimeNs };
}

function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}
