/**
 * `/etc/hosts`, for the lookups Keygate makes with c-ares (dns-lookup.ts): c-ares' `resolve4` and
 * `resolve6` ask a DNS server and never read the hosts file, where getaddrinfo(3) reads it first.
 * Re-read when its modification time changes, looked at no more than once a second.
 */
import fs from 'node:fs';
import net from 'node:net';

export interface HostsEntry {
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

const RECHECK_MS = 1_000;
/** Larger than any real hosts file; a bigger one is read only this far. */
const MAX_BYTES = 1024 * 1024;

export class HostsFile {
  readonly #path: string;
  readonly #now: () => number;
  #entries = new Map<string, HostsEntry>();
  #mtimeMs = -1;
  #checkedAt = -Infinity;

  /** `now`: the clock the once-a-second recheck reads (milliseconds). */
  constructor(
    path = process.platform === 'win32' ? windowsHostsPath() : '/etc/hosts',
    now: () => number = Date.now,
  ) {
    this.#path = path;
    this.#now = now;
  }

  /** The addresses the file gives `name` (case-insensitive, without a trailing dot). */
  lookup(name: string): HostsEntry | undefined {
    this.#refresh();
    return this.#entries.get(name.toLowerCase().replace(/\.$/, ''));
  }

  #refresh(): void {
    const now = this.#now();
    if (now - this.#checkedAt < RECHECK_MS) return;
    this.#checkedAt = now;
    let mtimeMs: number;
    try {
      mtimeMs = fs.statSync(this.#path).mtimeMs;
    } catch {
      // No hosts file (or an unreadable one) means no entries, as for getaddrinfo.
      this.#entries = new Map();
      this.#mtimeMs = -1;
      return;
    }
    if (mtimeMs === this.#mtimeMs) return;
    this.#mtimeMs = mtimeMs;
    let text = '';
    try {
      const fd = fs.openSync(this.#path, 'r');
      try {
        const buffer = Buffer.alloc(MAX_BYTES);
        text = buffer.toString('utf8', 0, fs.readSync(fd, buffer, 0, MAX_BYTES, 0));
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      // Unreadable (permissions, a directory) or vanished between stat and read: no entries
      // until it can be read. The mtime is forgotten, because making the file readable again
      // (chmod) leaves it unchanged: remembered, the file would never be read again.
      this.#mtimeMs = -1;
    }
    this.#entries = parseHosts(text);
  }
}

/** hosts(5): `ADDRESS NAME [ALIAS…]` per line, `#` to the end of a line is a comment. */
export function parseHosts(text: string): Map<string, HostsEntry> {
  const found = new Map<string, { v4: string[]; v6: string[] }>();
  for (const line of text.split('\n')) {
    const [address, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    // A zone index (fe80::1%lo0) is kept: net.connect understands it.
    const family = address === undefined ? 0 : net.isIP(address.split('%')[0] ?? '');
    if (family === 0 || address === undefined) continue;
    for (const raw of names) {
      const name = raw.toLowerCase().replace(/\.$/, '');
      if (name === '') continue;
      const entry = found.get(name) ?? { v4: [], v6: [] };
      (family === 4 ? entry.v4 : entry.v6).push(address);
      found.set(name, entry);
    }
  }
  return found;
}

function windowsHostsPath(): string {
  return `${process.env.SystemRoot ?? 'C:\\Windows'}\\System32\\drivers\\etc\\hosts`;
}
