/**
 * admit() as a table: every request shape × every rule (src/engine/proxy/admission.ts). Each
 * row names a shape, the request as the proxy saw it, and the verdict (or the error code) the
 * rule must give. The rows for issue 9 §2 failed before admission was one function.
 */
import { describe, expect, it } from 'vitest';
import {
  admit,
  type AdmissionRequest,
  type ProxyPolicy,
} from '../../../src/engine/proxy/admission.js';
import { AgentDirectory } from '../../../src/engine/proxy/agent-directory.js';
import { RuleTable } from '../../../src/engine/rules/rule-table.js';
import type { Agent, Mapping } from '../../../src/shared/settings-schema.js';

const OPEN_TOKEN = 'open-token-0123456789';
const LIMITED_TOKEN = 'limited-token-0123456789';
const AT = '2026-12-03T00:00:00.000Z';

function basic(token: string): string {
  return `Basic ${Buffer.from(`x:${token}`).toString('base64')}`;
}

const mappings: Mapping[] = [
  { host: 'api.example.com', ref: 'env://A', injector: { type: 'bearer' } },
  { host: 'paths.example.com', ref: 'env://P', injector: { type: 'bearer' }, path: '/v1/**' },
  {
    host: '127.0.0.1',
    port: 8080,
    ref: 'env://L',
    injector: { type: 'bearer' },
    allowPlaintext: true,
  },
  { host: 'tls-only.example.com', ref: 'env://T', injector: { type: 'bearer' } },
];
const agents: Agent[] = [
  { name: 'open', token: OPEN_TOKEN, createdAt: AT },
  { name: 'limited', token: LIMITED_TOKEN, createdAt: AT, hosts: ['api.example.com'] },
];

function policy(options: { denyUnmapped?: boolean; agents?: Agent[] } = {}): ProxyPolicy {
  return {
    rules: new RuleTable(mappings),
    agents: new AgentDirectory(options.agents ?? agents),
    denyUnmapped: options.denyUnmapped ?? false,
  };
}

const base = policy();
const open = base.agents.authenticate(basic(OPEN_TOKEN))!;
const limited = base.agents.authenticate(basic(LIMITED_TOKEN))!;

function tunnelled(
  shape: 'intercepted' | 'websocket-tls',
  host: string,
  requestTarget: string,
  extra: Partial<AdmissionRequest> = {},
): AdmissionRequest {
  return {
    shape,
    agent: open,
    tunnel: { host, port: 443 },
    requestTarget,
    hostHeader: host,
    ...extra,
  };
}

function absolute(
  shape: 'plaintext' | 'websocket-plain',
  requestTarget: string,
  extra: Partial<AdmissionRequest> = {},
): AdmissionRequest {
  return { shape, agent: open, requestTarget, hostHeader: undefined, ...extra };
}

/** The verdict, or the refusal's code, and the mapping when one was matched. */
function outcome(request: AdmissionRequest, p: ProxyPolicy = base): string {
  const decision = admit(request, p);
  if (decision.verdict === 'refuse') return decision.error.errorId;
  if (decision.verdict !== 'forward') return decision.verdict;
  return `forward ${decision.mapping?.name ?? '(no mapping)'} ${decision.path}`;
}

const connect = (target: string, agent = open): AdmissionRequest => ({
  shape: 'connect',
  agent,
  requestTarget: target,
  hostHeader: target,
});

describe('admit(): every shape × every rule', () => {
  const rows: Array<[string, AdmissionRequest, string, ProxyPolicy?]> = [
    // Rule 1: the target parses.
    ['connect: not host:port', connect('api.example.com'), 'keygate_bad_request'],
    ['plaintext: not a URL', absolute('plaintext', 'http//x'), 'keygate_bad_request'],
    ['plaintext: ftp://', absolute('plaintext', 'ftp://api.example.com/'), 'keygate_bad_request'],
    [
      'websocket-plain: wss:// without CONNECT',
      absolute('websocket-plain', 'wss://api.example.com/'),
      'keygate_bad_request',
    ],
    ['intercepted: *', tunnelled('intercepted', 'api.example.com', '*'), 'keygate_bad_request'],
    // Rule 2: authenticated.
    [
      'connect: no token',
      { ...connect('api.example.com:443'), agent: undefined },
      'keygate_proxy_auth_required',
    ],
    [
      'plaintext: no token',
      absolute('plaintext', 'http://example.org/', { agent: undefined }),
      'keygate_proxy_auth_required',
    ],
    [
      'websocket-plain: no token',
      absolute('websocket-plain', 'ws://127.0.0.1:8080/', { agent: undefined }),
      'keygate_proxy_auth_required',
    ],
    [
      'intercepted: the token was revoked since CONNECT',
      tunnelled('intercepted', 'api.example.com', '/'),
      'keygate_proxy_auth_required',
      policy({ agents: [agents[1]!] }),
    ],
    [
      'websocket-tls: the agent was re-created with a new token since CONNECT',
      tunnelled('websocket-tls', 'api.example.com', '/'),
      'keygate_proxy_auth_required',
      policy({
        agents: [{ name: 'open', token: 'a-new-token-0123456789', createdAt: AT }, agents[1]!],
      }),
    ],
    // Rule 3: Host names the target.
    [
      'intercepted: Host names another host',
      tunnelled('intercepted', 'api.example.com', '/', { hostHeader: 'evil.test' }),
      'keygate_host_mismatch',
    ],
    [
      'intercepted: no Host',
      tunnelled('intercepted', 'api.example.com', '/', { hostHeader: undefined }),
      'keygate_host_mismatch',
    ],
    [
      'websocket-tls: Host names another host',
      tunnelled('websocket-tls', 'api.example.com', '/', { hostHeader: 'evil.test' }),
      'keygate_host_mismatch',
    ],
    [
      'plaintext: Host differs from the URL',
      absolute('plaintext', 'https://api.example.com/', { hostHeader: 'evil.test' }),
      'keygate_host_mismatch',
    ],
    [
      'websocket-plain: Host differs from the URL',
      absolute('websocket-plain', 'ws://127.0.0.1:8080/', { hostHeader: '127.0.0.1:9090' }),
      'keygate_host_mismatch',
    ],
    [
      'intercepted: absolute-form naming another host',
      tunnelled('intercepted', 'api.example.com', 'https://evil.test/x'),
      'keygate_host_mismatch',
    ],
    [
      'intercepted: absolute-form naming the tunnel itself is rewritten to origin-form',
      tunnelled('intercepted', 'api.example.com', 'https://api.example.com/v1/x?a=1'),
      'forward api.example.com /v1/x?a=1',
    ],
    [
      'intercepted: absolute-form http:// (another scheme, another port)',
      tunnelled('intercepted', 'api.example.com', 'http://api.example.com/x'),
      'keygate_bad_request',
    ],
    // Rule 4: grants.
    ['connect: not granted', connect('paths.example.com:443', limited), 'keygate_host_not_granted'],
    [
      'intercepted: grant withdrawn since CONNECT',
      tunnelled('intercepted', 'paths.example.com', '/v1/x', { agent: limited }),
      'keygate_host_not_granted',
    ],
    [
      'plaintext: not granted',
      absolute('plaintext', 'https://paths.example.com/v1/x', { agent: limited }),
      'keygate_host_not_granted',
    ],
    [
      'websocket-plain: not granted (it once got 101 and the secret)',
      absolute('websocket-plain', 'ws://127.0.0.1:8080/', { agent: limited }),
      'keygate_host_not_granted',
    ],
    [
      'websocket-tls: not granted',
      tunnelled('websocket-tls', 'paths.example.com', '/v1/x', { agent: limited }),
      'keygate_host_not_granted',
    ],
    ['connect: granted', connect('api.example.com:443', limited), 'intercept'],
    // Rule 5: --deny-unmapped.
    ['connect: unmapped, tunnel', connect('example.org:443'), 'tunnel'],
    [
      'connect: unmapped under --deny-unmapped',
      connect('example.org:443'),
      'keygate_host_denied',
      policy({ denyUnmapped: true }),
    ],
    [
      'plaintext: unmapped under --deny-unmapped',
      absolute('plaintext', 'http://example.org/'),
      'keygate_host_denied',
      policy({ denyUnmapped: true }),
    ],
    [
      'websocket-plain: unmapped under --deny-unmapped',
      absolute('websocket-plain', 'ws://example.org/'),
      'keygate_host_denied',
      policy({ denyUnmapped: true }),
    ],
    [
      'intercepted: mapping removed since CONNECT, under --deny-unmapped',
      tunnelled('intercepted', 'gone.example.com', '/'),
      'keygate_host_denied',
      policy({ denyUnmapped: true }),
    ],
    [
      'plaintext: unmapped passes untouched, an encoded / and all',
      absolute('plaintext', 'http://example.org/a%2F..%5Cb'),
      'forward (no mapping) /a%2F..%5Cb',
    ],
    // Rule 6: the normalised path picks the mapping.
    [
      'intercepted: /v1/../admin is /admin, outside /v1/**',
      tunnelled('intercepted', 'paths.example.com', '/v1/../admin'),
      'forward (no mapping) /admin',
    ],
    [
      'intercepted: /v1/%2e%2e/admin is /admin',
      tunnelled('intercepted', 'paths.example.com', '/v1/%2e%2e/admin'),
      'forward (no mapping) /admin',
    ],
    [
      'intercepted: /v1/..%2fadmin is ambiguous where the path decides',
      tunnelled('intercepted', 'paths.example.com', '/v1/..%2fadmin'),
      'keygate_bad_request',
    ],
    [
      'websocket-tls: /v1/..;/admin is ambiguous where the path decides',
      tunnelled('websocket-tls', 'paths.example.com', '/v1/..;/admin'),
      'keygate_bad_request',
    ],
    [
      'plaintext: /v1\\..\\admin is ambiguous where the path decides',
      absolute('plaintext', 'https://paths.example.com/v1%5C..%5Cadmin'),
      'keygate_bad_request',
    ],
    [
      'intercepted: an encoded / is fine where no mapping has a path (GitLab project ids)',
      tunnelled('intercepted', 'api.example.com', '/projects/group%2Fproject'),
      'forward api.example.com /projects/group%2Fproject',
    ],
    [
      'intercepted: /v1/./models%2d1 is /v1/models-1, inside /v1/**',
      tunnelled('intercepted', 'paths.example.com', '/v1/./models%2d1?q=%2e'),
      'forward paths.example.com/v1/** /v1/models-1?q=%2e',
    ],
    // Rule 7: plaintext.
    [
      'plaintext: http:// to a TLS mapping',
      absolute('plaintext', 'http://api.example.com/'),
      'keygate_plaintext_refused',
    ],
    [
      'websocket-plain: ws:// to a host mapped for TLS (once forwarded in plaintext)',
      absolute('websocket-plain', 'ws://tls-only.example.com/'),
      'keygate_plaintext_refused',
    ],
    [
      'plaintext: https:// absolute-form to a TLS mapping is injected over TLS',
      absolute('plaintext', 'https://api.example.com/v1'),
      'forward api.example.com /v1',
    ],
    [
      'plaintext: a loopback mapping that allows plaintext',
      absolute('plaintext', 'http://127.0.0.1:8080/x'),
      'forward 127.0.0.1:8080 /x',
    ],
    [
      'websocket-plain: a loopback mapping that allows plaintext',
      absolute('websocket-plain', 'ws://127.0.0.1:8080/x'),
      'forward 127.0.0.1:8080 /x',
    ],
  ];

  it.each(rows)('%s', (_name, request, expected, p) => {
    expect(outcome(request, p)).toBe(expected);
  });

  it('covers every shape', () => {
    const shapes = new Set(rows.map(([, request]) => request.shape));
    expect([...shapes].sort()).toEqual(
      ['connect', 'intercepted', 'plaintext', 'websocket-plain', 'websocket-tls'].sort(),
    );
  });

  it('names the agent on every refusal after authentication, for the activity record', () => {
    const decision = admit(connect('paths.example.com:443', limited), base);
    expect(decision.verdict).toBe('refuse');
    expect(decision.agent?.name).toBe('limited');
  });

  it('sends a plain request the authority it names as Host, a tunnelled one keeps the agent’s', () => {
    const plain = admit(absolute('plaintext', 'http://127.0.0.1:8080/x'), base);
    const inTunnel = admit(tunnelled('intercepted', 'api.example.com', '/'), base);
    expect(plain.verdict === 'forward' && plain.hostHeader).toBe('127.0.0.1:8080');
    expect(inTunnel.verdict === 'forward' && inTunnel.hostHeader).toBeUndefined();
  });
});
