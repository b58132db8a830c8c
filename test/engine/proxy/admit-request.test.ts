/**
 * admitRequest (src/engine/proxy/admit-request.ts): how a request as it arrived — a real
 * http.IncomingMessage on a socket — becomes admission's input. On the proxy port the
 * absolute-form target and the request's own Proxy-Authorization decide; inside a tunnel, the
 * CONNECT that admitted the socket does, and a socket Keygate did not terminate is refused.
 * The policy is real (RuleTable, AgentDirectory), as in admission.test.ts.
 */
import http from 'node:http';
import net from 'node:net';
import { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import type { Admission, ProxyPolicy } from '../../../src/engine/proxy/admission.js';
import { admitRequest } from '../../../src/engine/proxy/admit-request.js';
import { AgentDirectory } from '../../../src/engine/proxy/agent-directory.js';
import type {
  InterceptedConnection,
  ProxyContext,
} from '../../../src/engine/proxy/proxy-context.js';
import { RuleTable } from '../../../src/engine/rules/rule-table.js';
import type { Agent, Mapping } from '../../../src/shared/settings-schema.js';

const TOKEN = 'open-token-0123456789';
const AT = '2026-12-03T00:00:00.000Z';
const PROXY_AUTH = `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`;

const mappings: Mapping[] = [
  { host: 'api.example.com', ref: 'env://A', injector: { type: 'bearer' } },
  {
    host: '127.0.0.1',
    port: 8080,
    ref: 'env://L',
    injector: { type: 'bearer' },
    allowPlaintext: true,
  },
];
const agents: Agent[] = [{ name: 'open', token: TOKEN, createdAt: AT }];

function policy(withAgents: Agent[] = agents): ProxyPolicy {
  return {
    rules: new RuleTable(mappings),
    agents: new AgentDirectory(withAgents),
    denyUnmapped: false,
  };
}

/** The parts of a ProxyContext admitRequest reads: the policy now and the intercepted sockets. */
function context(current: () => ProxyPolicy) {
  const connections = new WeakMap<TLSSocket, InterceptedConnection>();
  const partial: Pick<ProxyContext, 'policy' | 'connections'> = {
    policy: current,
    connections,
  };
  return { context: partial as ProxyContext, connections };
}

function request(
  socket: net.Socket,
  url: string,
  headers: Record<string, string> = {},
): http.IncomingMessage {
  const req = new http.IncomingMessage(socket);
  req.method = 'GET';
  req.url = url;
  req.headers = headers;
  return req;
}

function summary(decision: Admission): string {
  if (decision.verdict === 'refuse') return `refuse ${decision.error.errorId}`;
  if (decision.verdict !== 'forward') return decision.verdict;
  return `forward ${decision.secure ? 'tls' : 'plain'} ${decision.host}:${decision.port}${decision.path} ${decision.mapping?.config.ref ?? '(no mapping)'}`;
}

describe('admitRequest on the proxy port (not tunnelled)', () => {
  const plain = { tunnelled: false, websocket: false };

  it('admits an absolute-form request by its own Proxy-Authorization', () => {
    const { context: ctx } = context(() => policy());
    const req = request(new net.Socket(), 'http://127.0.0.1:8080/v1/x?q=1', {
      host: '127.0.0.1:8080',
      'proxy-authorization': PROXY_AUTH,
    });
    const decision = admitRequest(ctx, req, plain);
    expect(summary(decision)).toBe('forward plain 127.0.0.1:8080/v1/x?q=1 env://L');
    expect(decision.agent?.name).toBe('open');
  });

  it('refuses one without Proxy-Authorization, and one with a wrong token', () => {
    const { context: ctx } = context(() => policy());
    const target = 'http://127.0.0.1:8080/';
    const none = request(new net.Socket(), target, { host: '127.0.0.1:8080' });
    expect(summary(admitRequest(ctx, none, plain))).toBe('refuse keygate_proxy_auth_required');
    const wrong = request(new net.Socket(), target, {
      host: '127.0.0.1:8080',
      'proxy-authorization': `Basic ${Buffer.from('x:not-the-token-000000').toString('base64')}`,
    });
    expect(summary(admitRequest(ctx, wrong, plain))).toBe('refuse keygate_proxy_auth_required');
  });

  it('reads a ws:// target as a WebSocket upgrade only when the caller says it is one', () => {
    const { context: ctx } = context(() => policy());
    const headers = { host: '127.0.0.1:8080', 'proxy-authorization': PROXY_AUTH };
    const upgrade = request(new net.Socket(), 'ws://127.0.0.1:8080/socket', headers);
    expect(summary(admitRequest(ctx, upgrade, { tunnelled: false, websocket: true }))).toBe(
      'forward plain 127.0.0.1:8080/socket env://L',
    );
    const asHttp = request(new net.Socket(), 'ws://127.0.0.1:8080/socket', headers);
    expect(summary(admitRequest(ctx, asHttp, plain))).toBe('refuse keygate_bad_request');
  });
});

describe('admitRequest inside a tunnel', () => {
  const inTunnel = { tunnelled: true, websocket: false };

  it('refuses a request on a socket no admitted CONNECT produced, naming the shape', () => {
    const { context: ctx } = context(() => policy());
    const socket = new TLSSocket(new net.Socket());
    const headers = { host: 'api.example.com', 'proxy-authorization': PROXY_AUTH };
    const req = admitRequest(ctx, request(socket, '/v1/x', headers), inTunnel);
    expect(req).toMatchObject({ verdict: 'refuse', host: '(unknown)', port: 0, agent: undefined });
    expect(req.verdict === 'refuse' && req.error.errorId).toBe('keygate_bad_request');
    expect(req.verdict === 'refuse' && req.error.message).toBe(
      'request did not arrive through an authenticated CONNECT',
    );
    const upgrade = admitRequest(ctx, request(socket, '/v1/x', headers), {
      tunnelled: true,
      websocket: true,
    });
    expect(upgrade.verdict === 'refuse' && upgrade.error.message).toBe(
      'upgrade did not arrive through an authenticated CONNECT',
    );
  });

  it('takes the agent and destination from the CONNECT, not from the request', () => {
    const p = policy();
    const { context: ctx, connections } = context(() => p);
    const socket = new TLSSocket(new net.Socket());
    const agent = p.agents.authenticate(PROXY_AUTH)!;
    connections.set(socket, { host: 'api.example.com', port: 443, agent });
    // No Proxy-Authorization inside the tunnel: the CONNECT carried it.
    const req = request(socket, '/v1/a/../b', { host: 'api.example.com' });
    const decision = admitRequest(ctx, req, inTunnel);
    expect(summary(decision)).toBe('forward tls api.example.com:443/v1/b env://A');
    expect(decision.agent).toBe(agent);
  });

  it('reads an empty request-target as "/"', () => {
    const p = policy();
    const { context: ctx, connections } = context(() => p);
    const socket = new TLSSocket(new net.Socket());
    connections.set(socket, {
      host: 'api.example.com',
      port: 443,
      agent: p.agents.authenticate(PROXY_AUTH)!,
    });
    const decision = admitRequest(ctx, request(socket, '', { host: 'api.example.com' }), inTunnel);
    expect(summary(decision)).toBe('forward tls api.example.com:443/ env://A');
  });

  it('refuses a Host header that names another host than the CONNECT did', () => {
    const p = policy();
    const { context: ctx, connections } = context(() => p);
    const socket = new TLSSocket(new net.Socket());
    connections.set(socket, {
      host: 'api.example.com',
      port: 443,
      agent: p.agents.authenticate(PROXY_AUTH)!,
    });
    const req = request(socket, '/v1/x', { host: 'other.example.com' });
    expect(summary(admitRequest(ctx, req, inTunnel))).toBe('refuse keygate_host_mismatch');
  });

  it('asks the policy as it is now: an agent removed after its CONNECT is refused', () => {
    let current = policy();
    const { context: ctx, connections } = context(() => current);
    const socket = new TLSSocket(new net.Socket());
    connections.set(socket, {
      host: 'api.example.com',
      port: 443,
      agent: current.agents.authenticate(PROXY_AUTH)!,
    });
    const req = request(socket, '/v1/x', { host: 'api.example.com' });
    expect(admitRequest(ctx, req, inTunnel).verdict).toBe('forward');
    current = policy([]);
    expect(summary(admitRequest(ctx, req, inTunnel))).toBe('refuse keygate_proxy_auth_required');
  });
});
