/**
 * A real agent CLI (Claude Code, Codex) against its real API host, through two `keygate serve`s:
 * one whose mapping's `env://` variable is set (the success pass), one where it is not (the
 * missing-secret pass). The host is routed to a scripted loopback upstream with --connect-to, so
 * the CLI talks to `api.anthropic.com` / `api.openai.com` as it does in real use (no base-URL
 * override), trusting Keygate's CA from `keygate run`'s variables. Both serves run with
 * --deny-unmapped: any other host the CLI tries (telemetry, updates) gets a 403 from Keygate and
 * never leaves loopback.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  KEYGATE_BIN,
  REPO_ROOT,
  keygate,
  startServe,
  tempHome,
  type ServeHandle,
} from '../../helpers/keygate-process.js';
import {
  startScriptedUpstream,
  type ScriptedUpstream,
  type ScriptedUpstreamOptions,
} from '../../helpers/scripted-upstream.js';
import { createTestPki } from '../../helpers/test-pki.js';

export const PLACEHOLDER = 'keygate-placeholder';
/** serve reads the real key from this variable; the missing pass's serve does not have it. */
export const SECRET_VAR = 'KG_CLI_AGENT_KEY';

export interface CliAgentFixture {
  upstream: ScriptedUpstream;
  /** serve with the secret, and serve without it. */
  ok: ServeSide;
  missing: ServeSide;
  /** The agent's own HOME (its config dir), fresh per fixture. */
  agentHome: string;
  stop(): Promise<void>;
}

export interface ServeSide {
  serve: ServeHandle;
  home: string;
  /** The token in the agent's proxy URL: must never reach an upstream. */
  agentToken: string;
}

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

async function startSide(
  host: string,
  preset: string,
  port: number,
  caPath: string,
  secret: string | undefined,
): Promise<ServeSide & { cleanup(): void }> {
  const { home, cleanup } = tempHome('keygate-cli-agent-');
  const added = keygate(['map', 'add', host, `env://${SECRET_VAR}`, '--preset', preset], { home });
  if (added.status !== 0) throw new Error(`map add ${host}: ${added.stderr}`);
  const serve = await startServe(
    home,
    ['--deny-unmapped', '--upstream-ca', caPath, '--connect-to', `${host}:443:127.0.0.1:${port}`],
    secret === undefined ? {} : { [SECRET_VAR]: secret },
  );
  const env = keygate(['env'], { home });
  const agentToken = decodeURIComponent(/:([^:@/]+)@127\.0\.0\.1/.exec(env.stdout)?.[1] ?? '');
  if (!agentToken) throw new Error(`keygate env printed no proxy URL: ${env.stdout}`);
  return { serve, home, agentToken, cleanup };
}

export async function startCliAgentFixture(
  options: Omit<ScriptedUpstreamOptions, 'pki'> & { preset: string; secret: string },
): Promise<CliAgentFixture> {
  const pki = await createTestPki();
  const upstream = await startScriptedUpstream({ ...options, pki });
  // Without `secret` in serve's environment even if the test runner has it.
  delete process.env[SECRET_VAR];
  const [ok, missing] = await Promise.all([
    startSide(options.host, options.preset, upstream.port, pki.caPath, options.secret),
    startSide(options.host, options.preset, upstream.port, pki.caPath, undefined),
  ]);
  const agent = tempHome('keygate-cli-agent-home-');
  return {
    upstream,
    ok,
    missing,
    agentHome: agent.home,
    stop: async () => {
      await Promise.all([ok.serve.stop(), missing.serve.stop()]);
      await upstream.close();
      ok.cleanup();
      missing.cleanup();
      agent.cleanup();
    },
  };
}

/**
 * `keygate run -- CMD ARGS` against one side, from a bare environment: PATH (with the repo's
 * node_modules/.bin, where the CLIs are), the agent's own HOME, and `extra`. The secret variable
 * is exported too, as in a shell that also starts serve: `keygate run` must withhold it.
 */
export function runCli(
  fixture: CliAgentFixture,
  side: ServeSide,
  command: string[],
  options: { extra?: NodeJS.ProcessEnv; secret: string; timeoutMs?: number },
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [KEYGATE_BIN, '--home', side.home, 'run', '--', ...command],
      {
        cwd: fixture.agentHome,
        env: {
          PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          HOME: fixture.agentHome,
          KEYGATE_LOG: 'warn',
          [SECRET_VAR]: options.secret,
          ...options.extra,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command.join(' ')} did not finish:\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 50_000);
    child.once('error', reject);
    child.once('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/**
 * The environments of this machine's processes whose HOME is `home` (the agent under test and
 * anything it started, `keygate run` aside), read from /proc while the agent runs: the secret must be in none.
 */
export function environmentsWithHome(home: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let environ: string;
    let cmdline: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone, or not ours: only processes we can read are agents we started
    }
    // `keygate run` itself was given the secret (as a shell would): it is the one that withholds it.
    if (cmdline.includes(KEYGATE_BIN)) continue;
    if (environ.split('\0').includes(`HOME=${home}`)) found.push(environ);
  }
  return found;
}

/** What reached the upstream must hold neither the placeholder nor the agent's token. */
export function leaks(upstream: ScriptedUpstream, sides: ServeSide[]): string[] {
  const found: string[] = [];
  for (const request of upstream.received) {
    const text = JSON.stringify(request.headers) + request.body;
    if (text.includes(PLACEHOLDER)) found.push(`placeholder in ${request.method} ${request.path}`);
    for (const side of sides)
      if (text.includes(side.agentToken)) found.push(`agent token in ${request.path}`);
    if (request.headers['proxy-authorization'])
      found.push(`Proxy-Authorization in ${request.path}`);
  }
  return found;
}
