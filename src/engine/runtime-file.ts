/**
 * `serve.json` in the home tells other commands where a running `keygate serve` listens, so
 * `keygate env` and `keygate run` point agents at the real port (even with `--port 0`), and which
 * mappings it has found stale, so `keygate map list` in another terminal shows them too. It also
 * holds the control endpoint `keygate approvals/approve/deny` call: the file is 0600, so only
 * this user (and root) can read its token (docs/security.md, "Approvals").
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomicSync } from './atomic-write.js';
import { processAlive } from './process-alive.js';

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

/** The running server's address, or undefined when none runs (a stale file is ignored). */
export function readRuntimeInfo(home: string): RuntimeInfo | undefined {
  let text: string;
  try {
    text = readFileSync(join(home, FILE), 'utf8');
  } catch {
    return undefined;
  }
  let info: z.infer<typeof runtimeInfoSchema>;
  try {
    const parsed = runtimeInfoSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return undefined;
    info = parsed.data;
  } catch {
    return undefined; // not JSON: a half-written or foreign file, as good as none
  }
  if (!processAlive(info.pid)) return undefined;
  const { stale, control } = info;
  return {
    pid: info.pid,
    host: info.host,
    port: info.port,
    ...(stale ? { stale } : {}),
    ...(control ? { control } : {}),
  };
}

/**
 * What a reader trusts of serve.json: pid, host and port or nothing; a malformed `stale` or
 * `control` (another version wrote it) is dropped alone, and so are stale entries that are not text.
 */
const runtimeInfoSchema = z.object({
  pid: z.number(),
  host: z.string(),
  port: z.number(),
  stale: z
    .record(z.string(), z.unknown())
    .transform((value) => {
      const entries = Object.entries(value).filter(
        (entry): entry is [string, string] => typeof entry[1] === 'string',
      );
      return entries.length > 0 ? Object.fromEntries(entries) : undefined;
    })
    .optional()
    .catch(undefined),
  control: z.object({ url: z.string(), token: z.string() }).optional().catch(undefined),
});
