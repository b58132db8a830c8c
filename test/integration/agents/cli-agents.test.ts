/**
 * Agents that are not Node, started with `keygate run` and nothing else: curl, git (clone over
 * smart HTTP from a real `git http-backend`), and Python's requests, httpx and urllib
 * (/usr/bin/python3). Each must deliver the real credential upstream; then, with the secret
 * missing, each one's own output must name the cause.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANTHROPIC_SECRET,
  GITHUB_SECRET,
  leakedToUpstream,
  MISSING,
  OPENAI_SECRET,
  runAgent,
  UNREACHABLE,
  startAgentsFixture,
  type AgentsFixture,
} from './agents-fixture.js';
import { GIT_CONTENT, GIT_FILE } from './git-upstream.js';

const PYTHON = '/usr/bin/python3';
const CAUSE = /KG_AGENTS_NOT_SET is not set in the keygate process/;

let fixture: AgentsFixture;
let scratch: string;

beforeAll(async () => {
  fixture = await startAgentsFixture({ git: true });
  scratch = mkdtempSync(join(tmpdir(), 'keygate-agents-cli-'));
});
afterAll(async () => {
  await fixture?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function python(script: string) {
  return runAgent(fixture, [PYTHON, '-c', script]);
}

describe('each client delivers the real credential', () => {
  it('curl', async () => {
    const run = await runAgent(fixture, [
      'curl',
      '-sS',
      '--fail',
      '-H',
      'Authorization: Bearer keygate-placeholder',
      'https://api.openai.com/v1/curl',
    ]);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ authorization: 'Bearer keygate-placeholder' });
    expect(fixture.openai.received.at(-1)?.headers.authorization).toBe(`Bearer ${OPENAI_SECRET}`);
  });

  it('git clone over smart HTTP (github-git preset: Basic x-access-token)', async () => {
    const into = join(scratch, 'widgets');
    const run = await runAgent(
      fixture,
      ['git', 'clone', 'https://github.com/acme/widgets.git', into],
      {
        // No credential helper, no prompt: git must never need to ask.
        extra: { GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' },
      },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(readFileSync(join(into, GIT_FILE), 'utf8')).toBe(GIT_CONTENT);
    const expected = `Basic ${Buffer.from(`x-access-token:${GITHUB_SECRET}`).toString('base64')}`;
    expect(fixture.git?.authorizations.length).toBeGreaterThanOrEqual(2);
    for (const authorization of fixture.git?.authorizations ?? [])
      expect(authorization).toBe(expected);
  });

  it('Python requests', async () => {
    const run = await python(
      [
        'import requests',
        "r = requests.get('https://api.openai.com/v1/requests', headers={'Authorization': 'Bearer keygate-placeholder'}, timeout=20)",
        'print(r.status_code)',
      ].join('\n'),
    );
    expect(run.stdout.trim(), run.stderr).toBe('200');
    expect(fixture.openai.received.at(-1)).toMatchObject({
      url: '/v1/requests',
      headers: { authorization: `Bearer ${OPENAI_SECRET}` },
    });
  });

  it('Python httpx', async () => {
    const run = await python(
      [
        'import httpx',
        "r = httpx.post('https://api.anthropic.com/v1/httpx', headers={'x-api-key': 'keygate-placeholder'}, json={'a': 1}, timeout=20)",
        'print(r.status_code)',
      ].join('\n'),
    );
    expect(run.stdout.trim(), run.stderr).toBe('200');
    expect(fixture.anthropic.received.at(-1)).toMatchObject({
      url: '/v1/httpx',
      headers: { 'x-api-key': ANTHROPIC_SECRET },
    });
  });

  it('Python urllib (SSL_CERT_FILE; the standard library alone)', async () => {
    const run = await python(
      [
        'import urllib.request',
        "req = urllib.request.Request('https://api.openai.com/v1/urllib', headers={'Authorization': 'Bearer keygate-placeholder'})",
        'print(urllib.request.urlopen(req, timeout=20).status)',
      ].join('\n'),
    );
    expect(run.stdout.trim(), run.stderr).toBe('200');
    expect(fixture.openai.received.at(-1)).toMatchObject({
      url: '/v1/urllib',
      headers: { authorization: `Bearer ${OPENAI_SECRET}` },
    });
  });

  it('nothing but the real key reached the upstreams', () => {
    expect(leakedToUpstream(fixture, fixture.openai)).toEqual([]);
    expect(leakedToUpstream(fixture, fixture.anthropic)).toEqual([]);
  });
});

describe('with the secret missing, each client’s own output names the cause', () => {
  it('curl prints the text body', async () => {
    const run = await runAgent(fixture, ['curl', '-sS', `https://${MISSING.openai}/v1/models`]);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /^Keygate: mapping missing-openai\.example\.com: the credential is unavailable \(.*\) \(keygate_secret_unavailable\)\n$/,
    );
    expect(run.stdout).toMatch(CAUSE);
  });

  it('curl --fail prints the reason phrase', async () => {
    const run = await runAgent(fixture, [
      'curl',
      '-sS',
      '--fail',
      '-i',
      `https://${MISSING.openai}/v1/models`,
    ]);
    expect(run.status).toBe(22);
    expect(run.stdout).toMatch(
      /^HTTP\/1\.1 502 Keygate: secret unavailable for missing-openai\.example\.com\r$/m,
    );
  });

  it('git shows the cause as a "remote:" line', async () => {
    const run = await runAgent(
      fixture,
      ['git', 'clone', `https://${MISSING.git}/acme/widgets.git`, join(scratch, 'none')],
      { extra: { GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' } },
    );
    expect(run.status).toBe(128);
    expect(run.stderr).toMatch(
      /^remote: Keygate: mapping missing-git\.example\.com: the credential is unavailable \(.*KG_AGENTS_NOT_SET is not set in the keygate process\) \(keygate_secret_unavailable\)$/m,
    );
  });

  it.each([
    [
      'requests',
      [
        'import requests',
        `requests.get('https://${MISSING.openai}/v1/x', timeout=20).raise_for_status()`,
      ],
      /requests\.exceptions\.HTTPError: 502 Server Error: Keygate: secret unavailable for missing-openai\.example\.com for url/,
    ],
    [
      'httpx',
      [
        'import httpx',
        `httpx.get('https://${MISSING.openai}/v1/x', timeout=20).raise_for_status()`,
      ],
      /httpx\.HTTPStatusError: Server error '502 Keygate: secret unavailable for missing-openai\.example\.com'/,
    ],
    [
      'urllib',
      [
        'import urllib.request',
        `urllib.request.urlopen('https://${MISSING.openai}/v1/x', timeout=20)`,
      ],
      /urllib\.error\.HTTPError: HTTP Error 502: Keygate: secret unavailable for missing-openai\.example\.com/,
    ],
  ])('Python %s names it in the exception', async (_name, lines, printed) => {
    const run = await python(lines.join('\n'));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(printed);
  });
});

describe('a tunnel that cannot be opened', () => {
  it('an unmapped host that cannot be reached: curl gets a 502, and serve logs why', async () => {
    const run = await runAgent(fixture, ['curl', '-sS', `https://${UNREACHABLE}/`]);
    expect(run.status).toBe(56);
    expect(run.stderr).toMatch(/CONNECT tunnel failed, response 502/);
    // Logged like a failed intercepted request (issue 11 §4), where it used to be silent.
    expect(fixture.serve.stderr()).toMatch(
      new RegExp(
        `info  tunnel failed code=keygate_upstream_unreachable host=${UNREACHABLE}:443 agent=default reason=.*ECONNREFUSED`,
      ),
    );
  });
});
