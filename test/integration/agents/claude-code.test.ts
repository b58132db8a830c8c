/**
 * The real Claude Code CLI (the `@anthropic-ai/claude-code` devDependency), in print mode, through
 * `keygate run` to api.anthropic.com: no ANTHROPIC_BASE_URL, only Keygate's proxy and CA
 * variables (docs/agents.md, "Claude Code"). The host is a loopback upstream answering in the
 * API's recorded shapes; everything else Claude Code might call is refused by --deny-unmapped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANTHROPIC_JSON, ANTHROPIC_SSE } from '../../engine/usage/recorded-responses.js';
import type { ScriptedRequest } from '../../helpers/scripted-upstream.js';
import {
  environmentsWithHome,
  leaks,
  runCli,
  SECRET_VAR,
  startCliAgentFixture,
  type CliAgentFixture,
} from './cli-agent-fixture.js';

const SECRET = 'sk-ant-REAL-canary-claude-code-77b1';
const HOST = 'api.anthropic.com';

/** Claude Code's own switches: no telemetry, error reports, update checks or extra model calls. */
const QUIET = {
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
  DISABLE_AUTOUPDATER: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_NON_ESSENTIAL_MODEL_CALLS: '1',
};

let fixture: CliAgentFixture;
const environments: string[][] = [];

function answer(request: ScriptedRequest) {
  if (request.method === 'POST' && request.path.startsWith('/v1/messages')) {
    if (request.headers['x-api-key'] === SECRET) {
      // The agent's environment, read while it waits for this answer.
      environments.push(environmentsWithHome(fixture.agentHome));
    }
    const streaming = (JSON.parse(request.body) as { stream?: boolean }).stream === true;
    return streaming
      ? { headers: { 'content-type': 'text/event-stream' }, body: ANTHROPIC_SSE }
      : { body: ANTHROPIC_JSON };
  }
  return {
    status: 404,
    body: JSON.stringify({
      type: 'error',
      error: { type: 'not_found_error', message: `no ${request.path}` },
    }),
  };
}

beforeAll(async () => {
  fixture = await startCliAgentFixture({ host: HOST, preset: 'anthropic', secret: SECRET, answer });
});
afterAll(async () => {
  await fixture?.stop();
});

function claude(side: 'ok' | 'missing') {
  return runCli(fixture, fixture[side], ['claude', '-p', 'say hi', '--max-turns', '1'], {
    secret: SECRET,
    extra: QUIET,
  });
}

describe('Claude Code through keygate run, to api.anthropic.com', () => {
  it('completes a turn: the upstream gets the real key, the CLI never holds it', async () => {
    const run = await claude('ok');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('Hello!');
    // Before the turn it asks for its org settings; the fake has none (404) and it carries on.
    expect(fixture.upstream.received.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toContain(
      'POST /v1/messages',
    );
    const messages = fixture.upstream.received.filter((r) => r.path.startsWith('/v1/messages'));
    expect(messages.length).toBeGreaterThan(0);
    for (const request of messages) expect(request.headers['x-api-key']).toBe(SECRET);
    expect(leaks(fixture.upstream, [fixture.ok, fixture.missing])).toEqual([]);
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    expect(environments.length).toBeGreaterThan(0);
    for (const seen of environments) {
      expect(seen.length).toBeGreaterThan(0);
      for (const environ of seen) {
        expect(environ).not.toContain(SECRET);
        expect(environ).not.toContain(`${SECRET_VAR}=`);
      }
      // It is the agent's: it holds the placeholder.
      expect(
        seen.some((environ) => environ.includes('ANTHROPIC_API_KEY=keygate-placeholder')),
      ).toBe(true);
    }
  });

  it('with the secret missing, prints Keygate’s cause and stops at once (x-should-retry)', async () => {
    const before = fixture.upstream.received.length;
    const run = await claude('missing');
    expect(run.status).toBe(1);
    // Keygate's cause, then Claude Code's own sentence for any 5xx.
    expect(run.stdout).toMatch(
      /^API Error: 502 mapping api\.anthropic\.com: the credential is unavailable \(could not resolve env:\/\/KG_CLI_AGENT_KEY: environment variable KG_CLI_AGENT_KEY is not set in the keygate process\)\. This is a server-side issue/,
    );
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    expect(fixture.upstream.received.length).toBe(before);
    // Its retry budget is ~184 s; x-should-retry: false stops it (about 1.5 s here).
    expect(run.ms).toBeLessThan(30_000);
  });
});
