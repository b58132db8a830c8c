/**
 * One `keygate serve` per test file for the agent recipes (docs/agents.md): real TLS upstreams
 * posing as api.openai.com, api.anthropic.com and github.com (per-run test CA, reached through
 * --connect-to), each recording what arrived so a test can check the credential; and, for the
 * second pass, hosts mapped to an `env://` variable serve does not have ("missing-*"), whose
 * requests must fail with the cause in the client's own output.
 *
 * Agents are started exactly as a user starts them: `keygate run -- CMD`, from an environment
 * holding only PATH and HOME (plus what a test adds), so nothing but Keygate's variables can
 * route them.
 */
import { spawn } from 'node:child_process';
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.js';
import {
  KEYGATE_BIN,
  keygate,
  startServe,
  tempHome,
  type ServeHandle,
} from '../../helpers/keygate-process.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import { startGitUpstream, type GitUpstream } from './git-upstream.js';
import { closedPort } from '../../helpers/hostile-upstream.js';

export const OPENAI_SECRET = 'sk-openai-REAL-canary-agents-41c2';
export const ANTHROPIC_SECRET = 'sk-ant-REAL-canary-agents-9d07';
export const GITHUB_SECRET = 'ghp_REALcanaryAgents5e11';
export const PLACEHOLDER = 'keygate-placeholder';

export interface AgentsFixture {
  pki: TestPki;
  openai: FakeUpstream;
  anthropic: FakeUpstream;
  git?: GitUpstream;
  serve: ServeHandle;
  home: string;
  /** The token in the agent's proxy URL: must never reach an upstream. */
  agentToken: string;
  stop(): Promise<void>;
}

export interface AgentRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Hosts whose mapping reads a variable serve does not have. */
export const MISSING = {
  openai: 'missing-openai.example.com',
  anthropic: 'missing-anthropic.example.com',
  git: 'missing-git.example.com',
} as const;

/** An unmapped host routed to a port nothing listens on: its tunnel cannot be opened. */
export const UNREACHABLE = 'unreachable.example.com';

export async function startAgentsFixture(options: { git?: boolean } = {}): Promise<AgentsFixture> {
  const pki = await createTestPki();
  const [openai, anthropic, git] = await Promise.all([
    startFakeUpstream({ hosts: ['api.openai.com'], pki }),
    startFakeUpstream({ hosts: ['api.anthropic.com'], pki }),
    options.git ? startGitUpstream(pki, 'github.com', GITHUB_SECRET) : undefined,
  ]);
  const { home, cleanup } = tempHome('keygate-agents-');
  const maps: string[][] = [
    ['api.openai.com', 'env://KG_AGENTS_OPENAI', '--preset', 'openai'],
    ['api.anthropic.com', 'env://KG_AGENTS_ANTHROPIC', '--preset', 'anthropic'],
    [MISSING.openai, 'env://KG_AGENTS_NOT_SET', '--bearer'],
    [MISSING.anthropic, 'env://KG_AGENTS_NOT_SET', '--api-key-header', 'x-api-key'],
  ];
  if (git) {
    maps.push(['github.com', 'env://KG_AGENTS_GITHUB', '--preset', 'github-git']);
    maps.push([MISSING.git, 'env://KG_AGENTS_NOT_SET', '--basic', 'x-access-token']);
  }
  for (const args of maps) {
    const result = keygate(['map', 'add', ...args], { home });
    if (result.status !== 0) throw new Error(`map add ${args.join(' ')}: ${result.stderr}`);
  }
  const routes = [
    `${UNREACHABLE}:443:127.0.0.1:${await closedPort()}`,
    `api.openai.com:443:127.0.0.1:${openai.port}`,
    `api.anthropic.com:443:127.0.0.1:${anthropic.port}`,
    ...(git
      ? [`github.com:443:127.0.0.1:${git.port}`, `${MISSING.git}:443:127.0.0.1:${git.port}`]
      : []),
  ];
  const serve = await startServe(
    home,
    ['--upstream-ca', pki.caPath, ...routes.flatMap((route) => ['--connect-to', route])],
    {
      KG_AGENTS_OPENAI: OPENAI_SECRET,
      KG_AGENTS_ANTHROPIC: ANTHROPIC_SECRET,
      KG_AGENTS_GITHUB: GITHUB_SECRET,
    },
  );
  const env = keygate(['env'], { home });
  const agentToken = decodeURIComponent(/:([^:@/]+)@127\.0\.0\.1/.exec(env.stdout)?.[1] ?? '');
  if (!agentToken) throw new Error(`keygate env printed no proxy URL: ${env.stdout}`);
  return {
    pki,
    openai,
    anthropic,
    ...(git ? { git } : {}),
    serve,
    home,
    agentToken,
    stop: async () => {
      await serve.stop();
      await Promise.all([openai.close(), anthropic.close(), git?.close()]);
      cleanup();
    },
  };
}

/**
 * `keygate run -- CMD ARGS` from a bare environment (PATH, HOME, and `extra`), as a user would
 * start the agent. Resolves when it exits, with everything it printed.
 */
export function runAgent(
  fixture: AgentsFixture,
  command: string[],
  options: { extra?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<AgentRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [KEYGATE_BIN, '--home', fixture.home, 'run', '--', ...command],
      {
        cwd: options.cwd,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/root',
          KEYGATE_LOG: 'warn',
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
    }, options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** What reached an upstream must hold neither the placeholder nor the agent's token. */
export function leakedToUpstream(fixture: AgentsFixture, upstream: FakeUpstream): string[] {
  const found: string[] = [];
  for (const received of upstream.received) {
    const text = JSON.stringify(received.headers);
    if (text.includes(PLACEHOLDER)) found.push(`placeholder in ${received.url}`);
    if (text.includes(fixture.agentToken)) found.push(`agent token in ${received.url}`);
    if (received.headers['proxy-authorization'])
      found.push(`Proxy-Authorization in ${received.url}`);
  }
  return found;
}
