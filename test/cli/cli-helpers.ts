/**
 * Small additions to test/helpers/keygate-process.ts for the CLI contract tests: an async
 * `keygate` (so tables of bad input run in parallel), a raw `serve` spawn for argument orders
 * startServe does not cover, and a few file and port helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { KEYGATE_BIN, type CliResult } from '../helpers/keygate-process.js';

/** `keygate ARGS`, like the helper's `keygate`, without blocking the test process. */
export function keygateAsync(
  args: string[],
  options: { home?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [KEYGATE_BIN, ...(options.home ? ['--home', options.home] : []), ...args],
      { env: { ...process.env, KEYGATE_LOG: 'warn', ...options.env } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs every argument list at once; results in the same order. */
export function keygateAll(
  argLists: string[][],
  options: { home?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult[]> {
  return Promise.all(argLists.map((args) => keygateAsync(args, options)));
}

export interface RawServe {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the address from the one stdout line. */
  listening(): Promise<string>;
  /** Resolves with the exit code (null when killed by a signal). */
  exited(): Promise<number | null>;
}

/** `node keygate.js ARGV` with full control of the argument order and environment. */
export function spawnKeygate(argv: string[], env: NodeJS.ProcessEnv = {}): RawServe {
  const child = spawn(process.execPath, [KEYGATE_BIN, ...argv], {
    env: { ...process.env, KEYGATE_LOG: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: () => exit,
    listening: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`serve did not start:\n${stderr}`)),
          20_000,
        );
        const check = () => {
          const match = /keygate listening on (\S+)\n/.exec(stdout);
          if (match?.[1]) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        };
        child.stdout?.on('data', check);
        check();
        void exit.then((code) => {
          clearTimeout(timer);
          reject(new Error(`serve exited ${code}:\n${stderr}`));
        });
      }),
  };
}

/** True when something accepts connections on 127.0.0.1:port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function readSettings(home: string): {
  proxy: { port: number; host: string };
  mappings: Record<string, unknown>[];
  agents: { name: string; token: string; hosts?: string[] }[];
} {
  return JSON.parse(readFileSync(join(home, 'settings.json'), 'utf8')) as ReturnType<
    typeof readSettings
  >;
}

/** Points the home's configured proxy port somewhere predictable (there is no CLI for it). */
export function setConfiguredPort(home: string, port: number): void {
  const settings = readSettings(home);
  settings.proxy.port = port;
  writeFileSync(join(home, 'settings.json'), JSON.stringify(settings), { mode: 0o600 });
}

/** `export NAME='value'` / `set -gx NAME 'value';` lines, as printed by `keygate env`. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}

/**
 * Decodes one fish word made of single-quoted parts and backslash escapes, following fish's
 * rules (fish is not installed on CI): inside '…' only \\ and \' are escapes; outside, a
 * backslash escapes the next character.
 */
export function decodeFishWord(word: string): string {
  let out = '';
  let i = 0;
  while (i < word.length) {
    const c = word[i];
    if (c === "'") {
      i++;
      while (i < word.length && word[i] !== "'") {
        if (word[i] === '\\' && (word[i + 1] === '\\' || word[i + 1] === "'")) {
          out += word[i + 1];
          i += 2;
        } else {
          out += word[i];
          i++;
        }
      }
      if (word[i] !== "'") throw new Error(`unterminated quote in fish word: ${word}`);
      i++;
    } else if (c === '\\') {
      out += word[i + 1] ?? '';
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
