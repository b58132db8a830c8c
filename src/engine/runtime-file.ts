/**
 * `serve.json` in the home tells other commands where a running `keygate serve` listens, so
 * `keygate env` and `keygate run` point agents at the real port (even with `--port 0`).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RuntimeInfo {
  readonly pid: number;
  readonly host: string;
  readonly port: number;
}

const FILE = 'serve.json';

export function writeRuntimeInfo(home: string, info: RuntimeInfo): void {
  writeFileSync(join(home, FILE), `${JSON.stringify(info)}\n`, { mode: 0o600 });
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
    return alive(info.pid) ? (info as RuntimeInfo) : undefined;
  } catch {
    return undefined;
  }
}
