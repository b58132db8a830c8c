/**
 * Runs the real `keygate` CLI (the built `bin`), as users and other tools do.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const KEYGATE_BIN = join(REPO_ROOT, 'dist', 'cli', 'keygate.js');

export function tempHome(prefix = 'keygate-home-'): { home: string; cleanup(): void } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `keygate ARGS` to completion. */
export function keygate(
  args: string[],
  options: { home?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): CliResult {
  const result = spawnSync(
    process.execPath,
    [KEYGATE_BIN, ...(options.home ? ['--home', options.home] : []), ...args],
    {
      encoding: 'utf8',
      env: { ...process.env, KEYGATE_LOG: 'warn', ...options.env },
      input: options.input ?? '',
      timeout: 30_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface ServeHandle {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `keygate serve` and waits for its "listening" line; `nodeArgs` go to node itself. */
export async function startServe(
  home: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
): Promise<ServeHandle> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, KEYGATE_BIN, '--home', home, 'serve', '--port', '0', ...args],
    {
      env: { ...process.env, KEYGATE_LOG: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`keygate serve did not start:\n${stderr}`)),
      20_000,
    );
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /keygate listening on (\S+)/.exec(stdout);
      if (match?.[1]) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`keygate serve exited ${code}:\n${stderr}`));
    });
  });
  const port = Number(new URL(url).port);
  return {
    child,
    port,
    url,
    stderr: () => stderr,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolveExit) => {
        if (child.exitCode !== null) {
          resolveExit(child.exitCode);
          return;
        }
        child.once('exit', (code) => resolveExit(code));
        child.kill(signal);
      }),
  };
}
