/**
 * The real Codex CLI (the `@openai/codex` devDependency), `codex exec`, through `keygate run` to
 * api.openai.com: no base-URL override, only Keygate's proxy and CA variables (docs/agents.md,
 * "Codex CLI"). The host is a loopback upstream answering the Responses API in its recorded
 * shape, over WebSocket and over HTTPS (SSE); everything else is refused by --deny-unmapped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OPENAI_RESPONSES_EVENTS,
  OPENAI_RESPONSES_JSON,
} from '../../engine/usage/recorded-responses.js';
import type { ScriptedRequest } from '../../helpers/scripted-upstream.js';
import {
  environmentsWithHome,
  leaks,
  runCli,
  SECRET_VAR,
  startCliAgentFixture,
  type CliAgentFixture,
} from './cli-agent-fixture.js';

const SECRET = 'sk-openai-REAL-canary-codex-3f90';
const HOST = 'api.openai.com';

const REPLY =
  'In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool.';

/**
 * The recorded events, plus the `response.output_item.done` the API sends before
 * `response.completed` (trimmed from the recording): Codex builds its reply from that event.
 */
const EVENTS = [
  ...OPENAI_RESPONSES_EVENTS.slice(0, -1),
  {
    type: 'response.output_item.done',
    sequence_number: 5,
    output_index: 0,
    item: (JSON.parse(OPENAI_RESPONSES_JSON) as { output: unknown[] }).output[0],
  },
  { ...OPENAI_RESPONSES_EVENTS.at(-1), sequence_number: 6 },
];
const SSE = EVENTS.map(
  (event) => `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`,
).join('');

/** Codex's own switches: no update check, no analytics (otel export is off by default). */
const QUIET = ['-c', 'check_for_update_on_startup=false', '-c', 'analytics.enabled=false'];

let fixture: CliAgentFixture;
const environments: string[][] = [];

function answer(request: ScriptedRequest) {
  if (request.method === 'POST' && request.path.startsWith('/v1/responses')) {
    if (request.headers.authorization === `Bearer ${SECRET}`)
      environments.push(environmentsWithHome(fixture.agentHome));
    return { headers: { 'content-type': 'text/event-stream' }, body: SSE };
  }
  return {
    status: 404,
    body: JSON.stringify({
      error: { message: `no ${request.path}`, type: 'invalid_request_error' },
    }),
  };
}

function onWsMessage(message: string, upgrade: ScriptedRequest): string[] {
  if (upgrade.headers.authorization === `Bearer ${SECRET}`)
    environments.push(environmentsWithHome(fixture.agentHome));
  const type = (JSON.parse(message) as { type?: string }).type;
  return type === 'response.create' ? EVENTS.map((event) => JSON.stringify(event)) : [];
}

beforeAll(async () => {
  fixture = await startCliAgentFixture({
    host: HOST,
    preset: 'openai',
    secret: SECRET,
    answer,
    onWsMessage,
  });
});
afterAll(async () => {
  await fixture?.stop();
});

function codex(side: 'ok' | 'missing') {
  return runCli(
    fixture,
    fixture[side],
    ['codex', 'exec', '--skip-git-repo-check', ...QUIET, 'say hi'],
    { secret: SECRET },
  );
}

describe('Codex through keygate run, to api.openai.com', () => {
  it('completes a turn: the upstream gets the real key, the CLI never holds it', async () => {
    const run = await codex('ok');
    expect(run.status, run.stderr).toBe(0);
    // `codex exec` prints the final reply on stdout, its transcript on stderr.
    expect(run.stdout.trim()).toBe(REPLY);
    // Codex 0.171 speaks the Responses API over WebSocket first; the upgrade carried the key.
    const upgrades = fixture.upstream.received.filter((r) => r.method === 'WS');
    expect(upgrades.map((r) => r.path)).toEqual(['/v1/responses']);
    expect(upgrades[0]?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(fixture.upstream.wsMessages.some((m) => m.includes('say hi'))).toBe(true);
    expect(leaks(fixture.upstream, [fixture.ok, fixture.missing])).toEqual([]);
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    expect(environments.length).toBeGreaterThan(0);
    for (const seen of environments) {
      for (const environ of seen) {
        expect(environ).not.toContain(SECRET);
        expect(environ).not.toContain(`${SECRET_VAR}=`);
      }
      // It is the agent's: it holds the placeholder.
      expect(seen.some((environ) => environ.includes('OPENAI_API_KEY=keygate-placeholder'))).toBe(
        true,
      );
    }
  });

  // Codex does not read x-should-retry: five WebSocket attempts, then five over HTTPS (~30 s).
  // Its built-in `openai` provider's retry settings cannot be overridden, so this test waits.
  it('with the secret missing, prints Keygate’s cause after its own retries', async () => {
    const before = fixture.upstream.received.length;
    const run = await codex('missing');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      'warning: Falling back from WebSockets to HTTPS transport. unexpected status 502 Bad Gateway: Keygate: mapping api.openai.com: the credential is unavailable',
    );
    expect(run.stderr).toMatch(
      /^ERROR: unexpected status 502 Bad Gateway: mapping api\.openai\.com: the credential is unavailable \(could not resolve env:\/\/KG_CLI_AGENT_KEY: environment variable KG_CLI_AGENT_KEY is not set in the keygate process\), url: https:\/\/api\.openai\.com\/v1\/responses$/m,
    );
    expect(run.stderr.match(/Reconnecting\.\.\. 5\/5/g)?.length).toBe(2);
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    expect(fixture.upstream.received.length).toBe(before);
    expect(run.ms).toBeLessThan(45_000);
  }, 50_000);
});
