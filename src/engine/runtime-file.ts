/**
 * `serve.json` in the home tells other commands where a running `keygate serve` listens, so
 * `keygate env` and `keygate run` point agents at the real port (even with `--port 0`), and which
 * mappings it has found stale, so `keygate map list` in another terminal shows them too. It also
 * holds the control endpoint `keygate approvals/approve/deny` call: the file is 0600, so only
 * this user (and root) can read its token (docs/security.md, "Approvals").
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from './atomic-write.js';

export interface RuntimeInfo {
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** Mapping name → why its reference does not resolve, as the running process last saw it. */
  readonly stale?: Readonly<Record<string, string>>;
  /** serve's API for the approvals (ui-server.ts CONTROL_OPERATIONS). */
  readonly control?: RuntimeControl;
}

export interface RuntimeControl {
  /** `http://127.0.0.1:PORT/`. */
  readonly url: string;
  // SECRET: never log. Answers only the approvals operations.
  readonly token: string;
}

const FILE = 'serve.json';

/** Write-then-rename: the file is rewritten while serve runs, and a reader must never see half. */
export function writeRuntimeInfo(home: string, info: RuntimeInfo): void {
  const path = join(home, FILE);
  try {
    writeFileAtomicSync(path, `${JSON.stringify(info)}\n`, 0o600);
  } catch (err) {
    throw new Error(`cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export function removeRuntimeInfo(home: string, pid: number): void {
  if (readRuntimeInfo(home)?.pid === pid) rmSync(join(home, FILE), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else; it is still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running server's address, or undefined when none runs (a stale file is ignored). */
export function readRuntimeInfo(home: string): RuntimeInfo | undefined {
  let text: string;
  try {
    text = readFileSync(join(home, FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const info = JSON.parse(text) as Partial<RuntimeInfo>;
    if (
      typeof info.pid !== 'number' ||
      typeof info.port !== 'number' ||
      typeof info.host !== 'string'
    )
      return undefined;
    if (!alive(info.pid)) return undefined;
    const stale = validStale(info.stale);
    const control = validControl(info.control);
    return {
      pid: info.pid,
      host: info.host,
      port: info.port,
      ...(stale ? { stale } : {}),
      ...(control ? { control } : {}),
    };
  } catch {
    return undefined;
  }
}

function validStale(value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value).filter(
    (entry): entry is [string, string] => typeof entry[1] === 'string',
  );
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function validControl(value: unknown): RuntimeControl | undefined {
  const control = value as Partial<RuntimeControl> | undefined;
  if (typeof control?.url !== 'string' || typeof control.token !== 'string') return undefined;
  return { url: control.url, token: control.token };
}
