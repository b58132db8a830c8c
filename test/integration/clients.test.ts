/**
 * Real clients, through the real `keygate serve`, to real TLS upstreams posing as
 * api.openai.com and api.anthropic.com (per-run test CA, reached via --connect-to).
 * Each must deliver the injected key upstream and never the placeholder or the agent token.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import axios from 'axios';
import { HttpsProxyAgent } from 'https-proxy-agent';
import OpenAI from 'openai';
import { fetch as undiciFetch, ProxyAgent, request } from 'undici';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentError } from '../helpers/agent-error.js';
import { agentEnvironment } from '../helpers/agent-env.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import {
  keygate,
  REPO_ROOT,
  startServe,
  tempHome,
  type ServeHandle,
} from '../helpers/keygate-process.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';

const run = promisify(execFile);
const OPENAI_SECRET = 'sk-openai-REAL-canary-7f3a9c';
const ANTHROPIC_SECRET = 'sk-ant-REAL-canary-2b8e1d';
const PLACEHOLDER = 'keygate-placeholder';
const LOCAL_SECRET = 'local-REAL-canary-55aa';

let pki: TestPki;
let openai: FakeUpstream;
let anthropic: FakeUpstream;
let unmapped: FakeUpstream;
let badCert: FakeUpstream;
let plainLocal: FakeUpstream;
let home: ReturnType<typeof tempHome>;
let serve: ServeHandle;
let env: Record<string, string>;
let proxyUrl: string;
let keygateCaPem: string;

/** A clean child environment: nothing inherited that could route around Keygate. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    ...env,
    ...extra,
  };
}

function lastRequest(upstream: FakeUpstream) {
  const last = upstream.received.at(-1);
  if (!last) throw new Error('the upstream received nothing');
  return last;
}

function expectNoLeak(upstream: FakeUpstream): void {
  for (const received of upstream.received) {
    const text = JSON.stringify(received.headers);
    expect(text).not.toContain(PLACEHOLDER);
    expect(received.headers['proxy-authorization']).toBeUndefined();
    expect(text).not.toContain(new URL(proxyUrl).password);
  }
}

beforeAll(async () => {
  pki = await createTestPki();
  [openai, anthropic, unmapped, badCert] = await Promise.all([
    startFakeUpstream({ hosts: ['api.openai.com'], pki }),
    startFakeUpstream({ hosts: ['api.anthropic.com'], pki }),
    startFakeUpstream({ hosts: ['unmapped.example.com'], pki }),
    startFakeUpstream({ hosts: ['expired.example.com'], pki, expired: true }),
  ]);
  plainLocal = await startFakeUpstream({ hosts: [], pki, plain: true });
  home = tempHome();
  for (const args of [
    ['map', 'add', 'api.openai.com', 'env://OPENAI_KEY', '--preset', 'openai'],
    ['map', 'add', 'api.anthropic.com', 'env://ANTHROPIC_KEY', '--preset', 'anthropic'],
    ['map', 'add', 'expired.example.com', 'env://OPENAI_KEY'],
    ['map', 'add', `127.0.0.1:${plainLocal.port}`, 'env://LOCAL_KEY', '--allow-plaintext'],
  ]) {
    const result = keygate(args, { home: home.home });
    expect(result.status, result.stderr).toBe(0);
  }
  serve = await startServe(
    home.home,
    [
      '--upstream-ca',
      pki.caPath,
      '--connect-to',
      `api.openai.com:443:127.0.0.1:${openai.port}`,
      '--connect-to',
      `api.anthropic.com:443:127.0.0.1:${anthropic.port}`,
      '--connect-to',
      `unmapped.example.com:443:127.0.0.1:${unmapped.port}`,
      '--connect-to',
      `expired.example.com:443:127.0.0.1:${badCert.port}`,
    ],
    { OPENAI_KEY: OPENAI_SECRET, ANTHROPIC_KEY: ANTHROPIC_SECRET, LOCAL_KEY: LOCAL_SECRET },
  );
  env = agentEnvironment(home.home);
  proxyUrl = env.HTTPS_PROXY ?? '';
  keygateCaPem = readFileSync(env.NODE_EXTRA_CA_CERTS ?? '', 'utf8');
});

afterAll(async () => {
  await serve?.stop();
  await Promise.all([openai, anthropic, unmapped, badCert, plainLocal].map((u) => u?.close()));
  home?.cleanup();
});

describe('keygate env', () => {
  it('points agents at the running server with a percent-encoded user and token', () => {
    const url = new URL(proxyUrl);
    expect(url.protocol).toBe('http:');
    expect(url.username).toBe('default');
    expect(url.password.length).toBeGreaterThanOrEqual(43);
    expect(Number(url.port)).toBe(serve.port);
    expect(env.OPENAI_API_KEY).toBe(PLACEHOLDER);
    expect(env.ANTHROPIC_API_KEY).toBe(PLACEHOLDER);
  });
});

describe('clients see the key injected upstream', () => {
  it('curl', async () => {
    const { stdout } = await run(
      'curl',
      [
        '-sS',
        '--fail',
        'https://api.openai.com/v1/models',
        '-H',
        `Authorization: Bearer ${PLACEHOLDER}`,
      ],
      {
        env: childEnv(),
      },
    );
    // The fake upstream echoes what it received; Keygate scrubs the echo back to the placeholder.
    expect(JSON.parse(stdout).authorization).toBe(`Bearer ${PLACEHOLDER}`);
    expect(lastRequest(openai).headers.authorization).toBe(`Bearer ${OPENAI_SECRET}`);
    expectNoLeak(openai);
  });

  it('undici with ProxyAgent', async () => {
    const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: keygateCaPem } });
    const response = await request('https://api.anthropic.com/v1/messages', {
      method: 'POST',
      dispatcher,
      headers: {
        'x-api-key': PLACEHOLDER,
        'content-type': 'application/json',
        authorization: `Bearer ${PLACEHOLDER}`,
      },
      body: JSON.stringify({ hello: 'world' }),
    });
    expect(response.statusCode).toBe(200);
    await response.body.json();
    const received = lastRequest(anthropic);
    expect(received.headers['x-api-key']).toBe(ANTHROPIC_SECRET);
    // x-api-key style removes the placeholder Authorization the agent also sent.
    expect(received.headers.authorization).toBeUndefined();
    expect(received.body).toBe('{"hello":"world"}');
    expectNoLeak(anthropic);
    await dispatcher.close();
  });

  it('axios, CONNECT (https targets, proxy and CA from the environment)', async () => {
    // axios ≥ 1.8 tunnels https:// targets with CONNECT; run it as an agent would, in its own
    // process with nothing but `keygate env`'s variables (NODE_EXTRA_CA_CERTS, HTTPS_PROXY).
    const script = `
      import axios from 'axios';
      const r = await axios.get('https://api.openai.com/v1/axios-connect', { headers: { Authorization: 'Bearer keygate-placeholder' } });
      console.log(r.status);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: childEnv(),
      cwd: REPO_ROOT,
    });
    expect(stdout.trim()).toBe('200');
    const received = lastRequest(openai);
    expect(received.url).toBe('/v1/axios-connect');
    expect(received.headers.authorization).toBe(`Bearer ${OPENAI_SECRET}`);
    expectNoLeak(openai);
  });

  it('axios, absolute-form (http:// targets): injects only for a loopback mapping that allows plaintext', async () => {
    const url = new URL(proxyUrl);
    const proxy = {
      protocol: 'http',
      host: url.hostname,
      port: Number(url.port),
      auth: {
        username: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
      },
    };
    const response = await axios.get(`http://127.0.0.1:${plainLocal.port}/v1/absolute?x=1`, {
      proxy,
      headers: { Authorization: `Bearer ${PLACEHOLDER}` },
    });
    expect(response.status).toBe(200);
    const received = lastRequest(plainLocal);
    expect(received.url).toBe('/v1/absolute?x=1');
    expect(received.headers.authorization).toBe(`Bearer ${LOCAL_SECRET}`);
    expect(received.headers['proxy-authorization']).toBeUndefined();

    // The same client, to a mapped public host over http://: refused, nothing sent.
    const refused = await axios.get('http://api.openai.com/v1/models', {
      proxy,
      validateStatus: () => true,
    });
    expect(refused.status).toBe(403);
    expect(refused.headers['x-keygate-error']).toBe('keygate_plaintext_refused');
  });

  it('the official openai SDK', async () => {
    const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: keygateCaPem } });
    const client = new OpenAI({
      apiKey: PLACEHOLDER,
      fetch: undiciFetch as unknown as typeof fetch,
      // Our undici and the SDK's fetch typings are two copies of one API.
      fetchOptions: { dispatcher } as never,
      maxRetries: 0,
    });
    const completion = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(completion.choices[0]?.message.content).toBe('hi');
    const received = lastRequest(openai);
    expect(received.url).toBe('/v1/chat/completions');
    expect(received.headers.authorization).toBe(`Bearer ${OPENAI_SECRET}`);
    expectNoLeak(openai);
    await dispatcher.close();
  });

  it('the official @anthropic-ai/sdk', async () => {
    const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: keygateCaPem } });
    const client = new Anthropic({
      apiKey: PLACEHOLDER,
      fetch: undiciFetch as unknown as typeof fetch,
      // Our undici and the SDK's fetch typings are two copies of one API.
      fetchOptions: { dispatcher } as never,
      maxRetries: 0,
    });
    const message = await client.messages.create({
      model: 'claude-test',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'hi' });
    const received = lastRequest(anthropic);
    expect(received.url).toBe('/v1/messages');
    expect(received.headers['x-api-key']).toBe(ANTHROPIC_SECRET);
    expectNoLeak(anthropic);
    await dispatcher.close();
  });

  it('Python requests (REQUESTS_CA_BUNDLE = public roots + Keygate CA)', async () => {
    const script = [
      'import requests',
      "r = requests.get('https://api.openai.com/v1/py-requests', headers={'Authorization': 'Bearer keygate-placeholder'}, timeout=20)",
      'print(r.status_code)',
    ].join('\n');
    const { stdout } = await run('/usr/bin/python3', ['-c', script], { env: childEnv() });
    expect(stdout.trim()).toBe('200');
    const received = lastRequest(openai);
    expect(received.url).toBe('/v1/py-requests');
    expect(received.headers.authorization).toBe(`Bearer ${OPENAI_SECRET}`);
    expectNoLeak(openai);
  });

  it('Python httpx (SSL_CERT_FILE, trust_env)', async () => {
    const script = [
      'import httpx',
      "r = httpx.post('https://api.anthropic.com/v1/py-httpx', headers={'x-api-key': 'keygate-placeholder'}, json={'a': 1}, timeout=20)",
      'print(r.status_code)',
    ].join('\n');
    const { stdout } = await run('/usr/bin/python3', ['-c', script], { env: childEnv() });
    expect(stdout.trim()).toBe('200');
    const received = lastRequest(anthropic);
    expect(received.url).toBe('/v1/py-httpx');
    expect(received.headers['x-api-key']).toBe(ANTHROPIC_SECRET);
    expectNoLeak(anthropic);
  });
});

/** Opens a CONNECT tunnel through Keygate by hand, for tests that need the raw socket. */
function connectThrough(
  target: string,
  auth: string | undefined,
): Promise<{ status: number; headers: string; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(serve.port, '127.0.0.1', () => {
      socket.write(
        `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`,
      );
    });
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffer.slice(0, end);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      if (status === 200) {
        socket.off('data', onData);
        resolve({ status, headers: head, body: '', socket });
        return;
      }
      socket.once('end', () =>
        resolve({ status, headers: head, body: buffer.slice(end + 4), socket }),
      );
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

function basicAuth(): string {
  const url = new URL(proxyUrl);
  return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
}

describe('policy', () => {
  it('answers 407 with Proxy-Authenticate when the agent token is missing or wrong', async () => {
    for (const auth of [
      undefined,
      `Basic ${Buffer.from('default:wrong-token').toString('base64')}`,
      'Bearer abc',
      'Basic %%%',
    ]) {
      const reply = await connectThrough('api.openai.com:443', auth);
      expect(reply.status).toBe(407);
      expect(reply.headers).toMatch(/proxy-authenticate: Basic realm="keygate"/i);
      expect(reply.headers).toMatch(/x-keygate-error: keygate_proxy_auth_required/i);
      expect(parseAgentError(reply.body)?.error).toBe('keygate_proxy_auth_required');
      expect(reply.headers).toMatch(/^HTTP\/1\.1 407 Keygate: agent token missing or invalid\r\n/);
      expect(reply.headers).toMatch(/x-should-retry: false/i);
    }
  });

  it('accepts the token as the username when the password is empty', async () => {
    const token = decodeURIComponent(new URL(proxyUrl).password);
    const reply = await connectThrough(
      'unmapped.example.com:443',
      `Basic ${Buffer.from(`${token}:`).toString('base64')}`,
    );
    expect(reply.status).toBe(200);
    reply.socket.destroy();
  });

  it('tunnels an unmapped host byte-for-byte: the client sees the upstream’s own certificate', async () => {
    const reply = await connectThrough('unmapped.example.com:443', basicAuth());
    expect(reply.status).toBe(200);
    const secure = tls.connect({
      socket: reply.socket,
      servername: 'unmapped.example.com',
      ca: pki.caPem,
    });
    await new Promise<void>((resolve, reject) =>
      secure.once('secureConnect', resolve).once('error', reject),
    );
    expect(secure.authorized).toBe(true);
    expect(secure.getPeerCertificate().issuer.CN).toBe('Keygate Test Upstream CA');
    secure.write(
      'GET /tunneled HTTP/1.1\r\nHost: unmapped.example.com\r\nAuthorization: Bearer keygate-placeholder\r\nConnection: close\r\n\r\n',
    );
    const response = await new Promise<string>((resolve) => {
      let text = '';
      secure.on('data', (chunk: Buffer) => (text += chunk.toString()));
      secure.on('end', () => resolve(text));
    });
    expect(response).toMatch(/^HTTP\/1\.1 200/);
    // Untouched: the placeholder reached the unmapped upstream as sent.
    expect(lastRequest(unmapped).headers.authorization).toBe('Bearer keygate-placeholder');
  });

  it('refuses to inject when the Host header disagrees with the CONNECT target', async () => {
    const before = openai.received.length;
    const reply = await connectThrough('api.openai.com:443', basicAuth());
    const secure = tls.connect({
      socket: reply.socket,
      servername: 'api.openai.com',
      ca: keygateCaPem,
    });
    await new Promise<void>((resolve, reject) =>
      secure.once('secureConnect', resolve).once('error', reject),
    );
    secure.write('GET /v1/models HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n');
    const response = await new Promise<string>((resolve) => {
      let text = '';
      secure.on('data', (chunk: Buffer) => (text += chunk.toString()));
      secure.on('end', () => resolve(text));
    });
    expect(response).toMatch(/^HTTP\/1\.1 421/);
    expect(response).toMatch(/keygate_host_mismatch/);
    expect(openai.received.length).toBe(before);
  });

  it('answers 502 keygate_upstream_tls for an upstream with a bad certificate, and sends it nothing', async () => {
    const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: keygateCaPem } });
    const response = await request('https://expired.example.com/v1/x', { dispatcher });
    expect(response.statusCode).toBe(502);
    expect(response.headers['x-keygate-error']).toBe('keygate_upstream_tls');
    const body = parseAgentError(await response.body.text()) ?? { error: '', message: '' };
    expect(body.error).toBe('keygate_upstream_tls');
    expect(body.message).toMatch(/CERT_HAS_EXPIRED/);
    expect(body.message).not.toContain(OPENAI_SECRET);
    expect(badCert.received).toHaveLength(0);
    await dispatcher.close();
  });

  it('refuses origin-form requests on the proxy port, except GET /healthz', async () => {
    const health = await fetch(`http://127.0.0.1:${serve.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, service: 'keygate' });
    const page = await fetch(`http://127.0.0.1:${serve.port}/v1/models`);
    expect(page.status).toBe(400);
    expect(page.headers.get('x-keygate-error')).toBe('keygate_bad_request');
  });

  it('does not serve TLS on the proxy port itself: a direct TLS client gets no injection', async () => {
    const before = openai.received.length;
    const outcome = await new Promise<string>((resolve) => {
      const secure = tls.connect({
        host: '127.0.0.1',
        port: serve.port,
        servername: 'api.openai.com',
        ca: keygateCaPem,
      });
      secure.once('secureConnect', () => resolve('connected'));
      secure.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(outcome).not.toBe('connected');
    expect(openai.received.length).toBe(before);
  });
});

describe('streaming', () => {
  it('delivers SSE chunks one by one, as the upstream writes them', async () => {
    const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: keygateCaPem } });
    openai.sseWrites.length = 0;
    const response = await request('https://api.openai.com/sse?n=5&gap=150', { dispatcher });
    expect(response.statusCode).toBe(200);
    const arrivals: number[] = [];
    for await (const chunk of response.body) {
      const text = (chunk as Buffer).toString();
      for (const _event of text.split('\n\n').filter(Boolean)) arrivals.push(performance.now());
    }
    expect(arrivals).toHaveLength(5);
    // Chunk i reached the client before the upstream wrote chunk i+1: nothing was buffered.
    for (let i = 0; i < 4; i++)
      expect(arrivals[i]).toBeLessThan(openai.sseWrites[i + 1] ?? Infinity);
    await dispatcher.close();
  });

  it('relays a WebSocket through an intercepted host, with the credential on the upgrade', async () => {
    const agent = new HttpsProxyAgent(proxyUrl, { ca: keygateCaPem });
    const socket = new WebSocket('wss://api.openai.com/v1/realtime', {
      agent,
      ca: keygateCaPem,
      headers: { Authorization: `Bearer ${PLACEHOLDER}` },
    });
    const reply = await new Promise<string>((resolve, reject) => {
      socket.once('open', () => socket.send('ping-1'));
      socket.once('message', (data) => resolve(data.toString()));
      socket.once('error', reject);
    });
    expect(reply).toBe('echo:ping-1');
    const upgrade = openai.received.findLast((r) => r.method === 'WS');
    expect(upgrade?.headers.authorization).toBe(`Bearer ${OPENAI_SECRET}`);
    expect(upgrade?.url).toBe('/v1/realtime');
    expectNoLeak(openai);
    socket.close();
    agent.destroy();
  });
});
