/**
 * Runs the real `keygate serve --ui` and waits for both of its stdout lines: the proxy's address,
 * then the settings link (`http://127.0.0.1:PORT/#token=…`).
 */
import { spawn } from 'node:child_process';
import { KEYGATE_BIN, type ServeHandle } from './keygate-process.js';

export interface UiServeHandle extends ServeHandle {
  /** The link serve printed, token in the fragment. */
  readonly launchUrl: string;
  /** `http://127.0.0.1:PORT` (no slash, no token). */
  readonly uiOrigin: string;
  readonly uiPort: number;
  /** SECRET in real use; here a test fixture. */
  readonly uiToken: string;
  stdout(): string;
}

export async function startUiServe(
  home: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<UiServeHandle> {
  const child = spawn(
    process.execPath,
    [KEYGATE_BIN, '--home', home, 'serve', '--port', '0', '--ui', ...args],
    {
      env: { ...process.env, KEYGATE_LOG: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [proxyUrl, launchUrl] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keygate serve --ui did not start:\n${stdout}\n${stderr}`));
    }, 20_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /^keygate listening on (\S+)\nkeygate settings at (\S+)\n/.exec(stdout);
      if (match?.[1] && match[2]) {
        clearTimeout(timer);
        resolve([match[1], match[2]]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`keygate serve --ui exited ${code}:\n${stderr}`));
    });
  });
  const ui = new URL(launchUrl);
  const token = new URLSearchParams(ui.hash.slice(1)).get('token') ?? '';
  return {
    child,
    port: Number(new URL(proxyUrl).port),
    url: proxyUrl,
    launchUrl,
    uiOrigin: ui.origin,
    uiPort: Number(ui.port),
    uiToken: token,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolveExit) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolveExit(child.exitCode);
          return;
        }
        child.once('exit', (code) => resolveExit(code));
        child.kill(signal);
      }),
  };
}
