/**
 * handleConnect (src/engine/proxy/connect.ts): a CONNECT is refused with a status the agent can
 * show, tunnelled (unmapped: dialled through --connect-to and the agent's unmapped DNS lane, 200
 * only once the upstream accepted, a failure named on the CONNECT), or intercepted (mapped: 200
 * at once, TLS with a leaf of Keygate's CA for the CONNECT host, the socket remembered with its
 * CONNECT and agent and handed to the intercept server; a leaf that cannot be minted is a 502
 * before the 200, or a closed tunnel after it). The context is built from real parts, as
 * CredentialProxy builds it, around a real KeygateMitmProxy on 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ActivityLog } from '../../../src/engine/activity/activity-log.js';
import { createLogger } from '../../../src/engine/log/logger.js';
import type { ProxyPolicy } from '../../../src/engine/proxy/admission.js';
import { AgentDirectory } from '../../../src/engine/proxy/agent-directory.js';
import { handleConnect } from '../../../src/engine/proxy/connect.js';
import { UpstreamRoutes } from '../../../src/engine/proxy/connect-to.js';
import { UpstreamDns } from '../../../src/engine/proxy/dns-lookup.js';
import { HostsFile } from '../../../src/engine/proxy/hosts-file.js';
import {
  createProxyContext,
  type ProxyContext,
  type ProxyTimeouts,
} from '../../../src/engine/proxy/proxy-context.js';
import { createUpstreamAgents } from '../../../src/engine/proxy/upstream-agents.js';
import { RuleTable } from '../../../src/engine/rules/rule-table.js';
import { EnvSecretSource } from '../../../src/engine/secrets/env-source.js';
import { SecretResolver } from '../../../src/engine/secrets/secret-resolver.js';
import {
  loadOrCreateCertificateAuthority,
  type CertificateAuthority,
} from '../../../src/engine/tls/certificate-authority.js';
import { LeafCertificates } from '../../../src/engine/tls/leaf-certificates.js';
import type { Agent, Mapping } from '../../../src/shared/settings-schema.js';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns.js';
import {
  basicAuth,
  connectHead,
  keygateBody,
  parseResponse,
  rawExchange,
} from '../../helpers/raw-http.js';
import { connectEstablished } from '../../helpers/raw-tunnel.js';
import { closedPort } from '../../helpers/hostile-upstream.js';
import { testMitm } from '../../helpers/test-mitm.js';

const AT = '2026-12-03T00:00:00.000Z';
const OPEN = 'open-token-0123456789abcdefghijklmn';
const LIMITED = 'limited-token-0123456789abcdefghijk';
const agents: Agent[] = [
  { name: 'open', token: OPEN, createdAt: AT },
  { name: 'limited', token: LIMITED, createdAt: AT, hosts: ['other.example.com'] },
];
const mappings: Mapping[] = [
  { host: 'api.example.com', ref: 'env://KEY', injector: { type: 'bearer' } },
];
const OPEN_AUTH = basicAuth('open', OPEN);

function policy(denyUnmapped = false): ProxyPolicy {
  return { rules: new RuleTable(mappings), agents: new AgentDirectory(agents), denyUnmapped };
}

let caRoot: string;
let ca: CertificateAuthority;
let leaves: LeafCertificates;

beforeAll(async () => {
  caRoot = mkdtempSync(join(tmpdir(), 'keygate-connect-'));
  ca = await loadOrCreateCertificateAuthority(join(caRoot, 'ca'));
  leaves = await LeafCertificates.create(ca);
});
afterAll(() => rmSync(caRoot, { recursive: true, force: true }));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Host {
  readonly port: number;
  readonly context: ProxyContext;
  readonly activity: ActivityLog;
  readonly logLines: string[];
  /** The length of each CONNECT's `head` (bytes after its headers, in the same read). */
  readonly heads: number[];
}

/**
 * A KeygateMitmProxy on 127.0.0.1 whose CONNECTs go to handleConnect, as CredentialProxy wires
 * it. Requests inside an intercepted tunnel are answered with what `connections` holds for their
 * socket: what the CONNECT left for admission to read.
 */
async function startHost(
  options: {
    policy?: ProxyPolicy;
    leaves?: LeafCertificates;
    routes?: UpstreamRoutes;
    dns?: UpstreamDns;
    timeouts?: Partial<ProxyTimeouts>;
  } = {},
): Promise<Host> {
  const logLines: string[] = [];
  const log = createLogger({ level: 'info', sink: (line) => logLines.push(line) });
  const routes = options.routes ?? new UpstreamRoutes();
  const upstream = createUpstreamAgents({ routes, ...(options.dns ? { dns: options.dns } : {}) });
  const activity = new ActivityLog(50);
  const resolver = new SecretResolver({ sources: [new EnvSecretSource({ KEY: 'unused' })] });
  const current = options.policy ?? policy();
  const wired: { connections?: ProxyContext['connections'] } = {};
  const mitm = testMitm(log, (req, res) => {
    const conn = wired.connections?.get(req.socket as tls.TLSSocket);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(conn ? { ...conn, agent: conn.agent.name } : null));
  });
  const context = createProxyContext(
    {
      logger: log,
      activity,
      resolver,
      leaves: options.leaves ?? leaves,
      routes,
      upstream,
      policy: current,
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    },
    mitm,
    () => current,
  );
  wired.connections = context.connections;
  const heads: number[] = [];
  mitm.onConnect((req, socket, head) => {
    heads.push(head.length);
    handleConnect(context, req, socket as Duplex, head);
  });
  await new Promise<void>((resolve, reject) =>
    mitm.listen({ host: '127.0.0.1', port: 0 }, (err) => (err ? reject(err) : resolve())),
  );
  cleanups.push(async () => {
    await mitm.shutdown();
    upstream.destroy();
  });
  return { port: mitm.address?.port ?? 0, context, activity, logLines, heads };
}

/** A TCP upstream that records what it receives and answers each chunk with `pong:<chunk>`. */
async function startUpstream(): Promise<{ port: number; received: () => string }> {
  let received = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      socket.write(`pong:${chunk.toString('latin1')}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, received: () => received };
}

function client(port: number): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  cleanups.push(() => void socket.destroy());
  return socket;
}

async function fakeDns(options: Parameters<typeof startFakeDns>[0]): Promise<FakeDns> {
  const dns = await startFakeDns(options);
  cleanups.push(() => dns.close());
  return dns;
}

/** Reads from `socket` until `text` has arrived; resolves with everything read. */
function readUntil(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!seen.includes(text)) return;
      socket.off('data', onData);
      resolve(seen);
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before "${text}"; got: ${seen}`)));
  });
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) =>
    socket.destroyed ? resolve() : socket.once('close', () => resolve()),
  );
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

describe('handleConnect: refusals, answered on the CONNECT socket and recorded', () => {
  it.each([
    {
      name: 'no Proxy-Authorization',
      target: 'api.example.com:443',
      auth: null,
      status: 407,
      error: 'keygate_proxy_auth_required',
      record: { outcome: 'denied', host: 'api.example.com', port: 443 },
    },
    {
      name: 'a token no agent has',
      target: 'api.example.com:443',
      auth: basicAuth('open', 'not-a-token-0123456789abcdefghijkl'),
      status: 407,
      error: 'keygate_proxy_auth_required',
      record: { outcome: 'denied', host: 'api.example.com', port: 443 },
    },
    {
      name: 'a target that is not host:port',
      target: 'api.example.com',
      auth: OPEN_AUTH,
      status: 400,
      error: 'keygate_bad_request',
      record: { outcome: 'denied', host: '(invalid)', port: 0 },
    },
    {
      name: 'a mapped host the agent is not granted',
      target: 'api.example.com:443',
      auth: basicAuth('limited', LIMITED),
      status: 403,
      error: 'keygate_host_not_granted',
      record: { outcome: 'denied', host: 'api.example.com', port: 443, agent: 'limited' },
    },
    {
      name: 'an unmapped host under --deny-unmapped',
      target: 'elsewhere.example.com:443',
      auth: OPEN_AUTH,
      status: 403,
      error: 'keygate_host_denied',
      record: { outcome: 'denied', host: 'elsewhere.example.com', port: 443, agent: 'open' },
    },
  ])('$name → $status $error', async ({ target, auth, status, error, record }) => {
    const host = await startHost({ policy: policy(true) });
    const result = await rawExchange(host.port, connectHead(target, auth));
    expect(result.raw).not.toContain('Connection Established');
    expect(result.response?.status).toBe(status);
    expect(result.response?.headers['x-keygate-error']).toEqual([error]);
    expect(result.response?.headers.connection).toEqual(['close']);
    expect(keygateBody(result.response)?.error).toBe(error);
    if (status === 407) {
      expect(result.response?.headers['proxy-authenticate']).toEqual(['Basic realm="keygate"']);
    }
    // Every refusal below 500 is the agent's to fix: recorded as denied, with the CONNECT's status.
    expect(host.activity.recent()).toEqual([
      expect.objectContaining({ ...record, method: 'CONNECT', status, error }),
    ]);
  });
});

describe('handleConnect: an unmapped host is tunnelled', () => {
  it('dials the --connect-to route, answers 200 once connected, and sends the CONNECT head first', async () => {
    const upstream = await startUpstream();
    const host = await startHost({
      routes: UpstreamRoutes.parse([`unmapped.test:443:127.0.0.1:${upstream.port}`]),
    });
    const socket = client(host.port);
    const answered = readUntil(socket, 'pong:late');
    // Bytes after the CONNECT's headers in the same write arrive as its `head`.
    socket.write(connectHead('unmapped.test:443', OPEN_AUTH) + 'early;');
    await until(() => upstream.received() === 'early;', 'the head to reach the upstream');
    socket.write('late');
    const seen = await answered;
    expect(host.heads).toEqual([6]);
    expect(seen.startsWith('HTTP/1.1 200 Connection Established\r\n\r\n')).toBe(true);
    expect(upstream.received()).toBe('early;late');
    expect(host.activity.recent()).toEqual([
      expect.objectContaining({
        outcome: 'tunneled',
        host: 'unmapped.test',
        port: 443,
        agent: 'open',
        method: 'CONNECT',
        status: 200,
      }),
    ]);
  });

  it("resolves the name on the agent's unmapped lane (c-ares, the configured DNS server)", async () => {
    const upstream = await startUpstream();
    const dns = await fakeDns({ answers: { 'only-in-dns.test': '127.0.0.1' } });
    const host = await startHost({
      dns: new UpstreamDns({ servers: [dns.server], hostsFile: new HostsFile('/nonexistent') }),
    });
    const socket = client(host.port);
    socket.write(connectHead(`only-in-dns.test:${upstream.port}`, OPEN_AUTH));
    await connectEstablished(socket);
    const answered = readUntil(socket, 'pong:ping');
    socket.write('ping');
    await answered;
    expect(dns.queries).toContain('only-in-dns.test');
    expect(upstream.received()).toBe('ping');
  });

  it('an upstream that refuses → 502 keygate_upstream_unreachable on the CONNECT, logged and recorded', async () => {
    const port = await closedPort();
    const host = await startHost();
    const result = await rawExchange(host.port, connectHead(`127.0.0.1:${port}`, OPEN_AUTH));
    expect(result.raw).not.toContain('Connection Established');
    expect(result.response?.status).toBe(502);
    const body = keygateBody(result.response);
    expect(body?.error).toBe('keygate_upstream_unreachable');
    expect(body?.message).toMatch(
      new RegExp(
        `^tunnel to 127\\.0\\.0\\.1:${port}: could not reach the upstream \\(ECONNREFUSED`,
      ),
    );
    expect(host.logLines).toEqual([
      expect.stringMatching(
        new RegExp(
          `info  tunnel failed code=keygate_upstream_unreachable host=127\\.0\\.0\\.1:${port} agent=open reason=.*ECONNREFUSED`,
        ),
      ),
    ]);
    expect(host.activity.recent()).toEqual([
      expect.objectContaining({
        outcome: 'error',
        host: '127.0.0.1',
        port,
        agent: 'open',
        method: 'CONNECT',
        status: 502,
        error: 'keygate_upstream_unreachable',
      }),
    ]);
  });

  it('an upstream not reached within connectMs → 504 keygate_upstream_timeout', async () => {
    // A DNS server that never answers: the dial is still looking the name up when time runs out.
    const dns = await fakeDns({ silent: true });
    const host = await startHost({
      dns: new UpstreamDns({
        servers: [dns.server],
        hostsFile: new HostsFile('/nonexistent'),
        timeoutMs: 400,
        tries: 1,
      }),
      timeouts: { connectMs: 100 },
    });
    const started = performance.now();
    const result = await rawExchange(host.port, connectHead('never-answers.test:443', OPEN_AUTH));
    const elapsed = performance.now() - started;
    expect(result.response?.status).toBe(504);
    expect(keygateBody(result.response)?.error).toBe('keygate_upstream_timeout');
    expect(elapsed).toBeGreaterThanOrEqual(90);
    expect(elapsed).toBeLessThan(400);
    expect(host.activity.recent()).toEqual([
      expect.objectContaining({ outcome: 'error', status: 504, method: 'CONNECT' }),
    ]);
  });
});

/** A TLS client inside the tunnel, after the 200; the socket closes in afterEach. */
function tlsInside(raw: net.Socket, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  const secure = tls.connect({ socket: raw, ...options });
  cleanups.push(() => void secure.destroy());
  return new Promise((resolve, reject) =>
    secure.once('secureConnect', () => resolve(secure)).once('error', reject),
  );
}

function get(secure: tls.TLSSocket, hostHeader: string): Promise<unknown> {
  return new Promise((resolve) => {
    let text = '';
    secure.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const response = parseResponse(text);
      if (response?.complete) resolve(JSON.parse(response.body));
    });
    secure.write(`GET /v1/x HTTP/1.1\r\nHost: ${hostHeader}\r\n\r\n`);
  });
}

describe('handleConnect: a mapped host is intercepted', () => {
  it('answers 200, serves a leaf for the CONNECT host whatever the SNI, and hands the socket on with its CONNECT', async () => {
    const host = await startHost();
    const raw = client(host.port);
    raw.write(connectHead('api.example.com:443', OPEN_AUTH));
    await connectEstablished(raw);
    const secure = await tlsInside(raw, {
      ca: ca.certPem,
      servername: 'sni.elsewhere.test',
      ALPNProtocols: ['h2', 'http/1.1'],
      // The name check is done here, below: the leaf is for the CONNECT host, not the SNI.
      checkServerIdentity: () => undefined,
    });
    expect(secure.authorized).toBe(true);
    expect(secure.getPeerCertificate().subjectaltname).toBe('DNS:api.example.com');
    expect(secure.alpnProtocol).toBe('http/1.1');
    expect(await get(secure, 'api.example.com')).toEqual({
      host: 'api.example.com',
      port: 443,
      agent: 'open',
    });
    // A CONNECT that is intercepted is not an outcome of its own: its requests are.
    expect(host.activity.recent()).toEqual([]);
  });

  it('takes a ClientHello sent in the same packet as the CONNECT (its head)', async () => {
    const host = await startHost();
    const raw = client(host.port);
    await new Promise<void>((resolve) => raw.once('connect', resolve));
    // A real TLS client over a stream the test carries: its first flight is held back and sent
    // with the CONNECT in one write; after that, bytes pass both ways.
    let sending = false;
    const firstFlight: Buffer[] = [];
    const carrier = new Duplex({
      read: () => undefined,
      write(chunk: Buffer, _encoding, done) {
        if (sending) raw.write(chunk);
        else firstFlight.push(chunk);
        done();
      },
    });
    const secure = tls.connect({ socket: carrier, servername: 'api.example.com', ca: ca.certPem });
    cleanups.push(() => void secure.destroy());
    const connected = new Promise<void>((resolve, reject) =>
      secure.once('secureConnect', resolve).once('error', reject),
    );
    await until(() => firstFlight.length > 0, 'the ClientHello');
    const established = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');
    let answer = Buffer.alloc(0);
    raw.on('data', (chunk: Buffer) => {
      if (answer.length < established.length) {
        answer = Buffer.concat([answer, chunk]);
        if (answer.length >= established.length) {
          expect(answer.subarray(0, established.length)).toEqual(established);
          carrier.push(answer.subarray(established.length));
        }
      } else {
        carrier.push(chunk);
      }
    });
    sending = true;
    const hello = Buffer.concat(firstFlight);
    raw.write(Buffer.concat([Buffer.from(connectHead('api.example.com:443', OPEN_AUTH)), hello]));
    await connected;
    expect(host.heads).toEqual([hello.length]);
    expect(secure.authorized).toBe(true);
    expect(await get(secure, 'api.example.com')).toMatchObject({ host: 'api.example.com' });
  });

  it('an agent that does not trust the Keygate CA: the failed handshake is logged with host and agent', async () => {
    const host = await startHost();
    const raw = client(host.port);
    raw.write(connectHead('api.example.com:443', OPEN_AUTH));
    await connectEstablished(raw);
    // Node's own roots only: Keygate's CA is not among them.
    await expect(tlsInside(raw, { servername: 'api.example.com' })).rejects.toThrow(/certificate/);
    await until(() => host.logLines.length > 0, 'the log line');
    expect(host.logLines).toEqual([
      expect.stringMatching(
        /info {2}agent closed the connection after Keygate's certificate; does it trust the Keygate CA\? \(keygate env\) host=api\.example\.com agent=open reason="the agent closed the connection during the TLS handshake"$/,
      ),
    ]);
  });

  it('a leaf that cannot be minted (the CA has expired) → 502 on the CONNECT, before any 200', async () => {
    const expired = await LeafCertificates.create(ca, { now: () => ca.notAfter.getTime() + 1 });
    const host = await startHost({ leaves: expired });
    const result = await rawExchange(host.port, connectHead('api.example.com:443', OPEN_AUTH));
    expect(result.raw).not.toContain('Connection Established');
    expect(result.response?.status).toBe(502);
    // The agent is told what failed; why (the CA's expiry) is in the log, for the user.
    expect(keygateBody(result.response)).toEqual({
      error: 'keygate_upstream_unreachable',
      message: 'could not mint a certificate for api.example.com',
    });
    expect(host.logLines).toEqual([
      expect.stringMatching(
        /error could not mint a certificate host=api\.example\.com err=.*expired/,
      ),
    ]);
    expect(host.activity.recent()).toEqual([
      expect.objectContaining({
        outcome: 'error',
        host: 'api.example.com',
        agent: 'open',
        method: 'CONNECT',
        status: 502,
        error: 'keygate_upstream_unreachable',
      }),
    ]);
  });

  it('a mint that fails after the 200 (the CA expires between check and mint) → the tunnel is closed, the failure recorded', async () => {
    // Keygate's clock: valid when the CONNECT is checked, past the CA's end when the leaf is minted.
    let reads = 0;
    const flipping = await LeafCertificates.create(ca, {
      now: () => (reads++ === 0 ? Date.now() : ca.notAfter.getTime() + 1),
    });
    const host = await startHost({ leaves: flipping });
    const raw = client(host.port);
    let seen = '';
    raw.on('data', (chunk: Buffer) => (seen += chunk.toString('latin1')));
    raw.write(connectHead('api.example.com:443', OPEN_AUTH));
    await closed(raw);
    expect(seen).toBe('HTTP/1.1 200 Connection Established\r\n\r\n');
    expect(host.logLines).toEqual([
      expect.stringMatching(/error could not mint a certificate host=api\.example\.com/),
    ]);
    expect(host.activity.recent()).toEqual([
      expect.objectContaining({
        outcome: 'error',
        host: 'api.example.com',
        agent: 'open',
        method: 'CONNECT',
        status: 502,
        error: 'keygate_upstream_unreachable',
      }),
    ]);
  });
});
