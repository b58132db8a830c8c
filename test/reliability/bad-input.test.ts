/**
 * The bad-input catalogue, part 1: what an untrusted agent can send to the proxy port (raw
 * bytes, CONNECT targets, agent tokens), what the contract accepts as a mapping, and settings
 * files changed under a running engine. Every case gets a named error (status + `keygate_*`, or
 * InvalidInputError with a message naming what is wrong); after every case `/healthz` answers,
 * and a long-lived keep-alive intercepted connection and an SSE stream opened before the first
 * case are still working (test/helpers/bystanders.ts).
 *
 * The engine runs in this process (test/helpers/engine-fixture.ts) with a 1 s headers timeout,
 * so slowloris cases finish quickly: `keygate serve` keeps Node's 30 s default and has no flag
 * for it. Part 2 (bad-input-cli.test.ts) drives the real CLI against a real `keygate serve`.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { ProxyAgent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../src/engine/dispatch.js';
import { InvalidInputError, InvalidRequestError } from '../../src/engine/errors.js';
import { SETTINGS_SCHEMA_VERSION } from '../../src/shared/settings-schema.js';
import type { MappingInput } from '../../src/shared/api.js';
import { startBystanders, type Bystanders } from '../helpers/bystanders.js';
import { startEngine, type EngineFixture } from '../helpers/engine-fixture.js';
import {
  startEchoServer,
  startHostileUpstream,
  type HostileUpstream,
  type RawServer,
} from '../helpers/hostile-upstream.js';
import {
  basicAuth,
  captureClientHello,
  connectHead,
  keygateBody,
  rawExchange,
  requestOn,
  type RawResult,
} from '../helpers/raw-http.js';
import { connectEstablished } from '../helpers/raw-tunnel.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';

const SECRET = 'sk-badinput-CANARY-5d1e77';
const HEADERS_TIMEOUT_MS = 1_000;

let pki: TestPki;
let upstream: HostileUpstream;
let echo: RawServer;
let fixture: EngineFixture;
let bystanders: Bystanders;
let port: number;
let caPem: string;
let token: string;
let auth: string;

beforeAll(async () => {
  pki = await createTestPki();
  upstream = await startHostileUpstream({
    pki,
    hosts: ['api.openai.com', 'xn--strae-oqa.example'],
  });
  echo = await startEchoServer();
  fixture = await startEngine({
    secrets: { OPENAI_KEY: SECRET },
    mappings: [{ host: 'api.openai.com', ref: 'env://OPENAI_KEY', preset: 'openai' }],
    connectTo: [
      `api.openai.com:443:127.0.0.1:${upstream.port}`,
      `xn--strae-oqa.example:443:127.0.0.1:${upstream.port}`,
      `xn--bcher-kva.example:443:127.0.0.1:${echo.port}`,
    ],
    upstreamCaFiles: [pki.caPath],
    extra: {
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      connectionsCheckingIntervalMs: 200,
      timeouts: { connectMs: 2_000 },
    },
  });
  port = fixture.engine.port ?? 0;
  caPem = fixture.engine.ca.certPem;
  token = fixture.engine.store.get().agents[0]?.token ?? '';
  auth = basicAuth('default', token);
  bystanders = await startBystanders({
    proxyPort: port,
    proxyUrl: fixture.proxyUrl(),
    caPem,
    host: 'api.openai.com',
  });
});

afterEach(async () => {
  await bystanders.check();
});

afterAll(async () => {
  await fixture?.stop();
  await upstream?.close();
  await echo?.close();
});

function expectNamedError(result: RawResult, status: number, code: string, message?: RegExp): void {
  const context = result.raw.slice(0, 400);
  expect(result.response?.status, context).toBe(status);
  expect(result.response?.headers['x-keygate-error'], context).toEqual([`keygate_${code}`]);
  const body = keygateBody(result.response);
  expect(body?.error, context).toBe(`keygate_${code}`);
  if (message) expect(body?.message, context).toMatch(message);
  if (status === 407)
    expect(result.response?.headers['proxy-authenticate']).toEqual(['Basic realm="keygate"']);
}

/** CONNECT on a fresh socket; resolves with the socket once Keygate answered 200. */
async function connectRaw(target: string, proxyAuth = auth): Promise<net.Socket> {
  const raw = net.connect(port, '127.0.0.1');
  raw.write(connectHead(target, proxyAuth));
  await connectEstablished(raw);
  return raw;
}

/** CONNECT, then TLS with the Keygate CA as `servername`. */
async function connectAndHandshake(
  target: string,
  servername: string,
  proxyAuth = auth,
): Promise<tls.TLSSocket> {
  const raw = await connectRaw(target, proxyAuth);
  const secure = tls.connect({ socket: raw, servername, ca: caPem });
  await new Promise<void>((resolve, reject) =>
    secure.once('secureConnect', resolve).once('error', reject),
  );
  return secure;
}

function lastEvent() {
  return fixture.engine.activity.recent().at(-1);
}

// ---- Raw bytes on the proxy port ----------------------------------------------------------

describe('raw bytes on the proxy port', () => {
  const malformed: Array<[string, () => string | Buffer, number, RegExp]> = [
    ['garbage', () => '\x00\x01\x02garbage\r\n\r\n', 400, /malformed HTTP request \(HPE_/],
    [
      '4 KB of random binary',
      () => Buffer.concat([Buffer.from([0]), randomBytes(4096)]),
      400,
      /malformed HTTP request/,
    ],
    [
      'an HTTP/2 prior-knowledge preface',
      () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      400,
      /malformed HTTP request \(HPE_/,
    ],
    [
      'an unknown HTTP version',
      () => 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
      400,
      /HPE_INVALID_VERSION/,
    ],
    [
      'bare LF line endings',
      () => 'GET /healthz HTTP/1.1\nHost: x\n\n',
      400,
      /malformed HTTP request \(HPE_/,
    ],
    [
      'a NUL byte in a header value',
      () => 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n',
      400,
      /HPE_INVALID_HEADER_TOKEN/,
    ],
    [
      'a space inside a header name',
      () => 'GET /healthz HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n',
      400,
      /HPE_INVALID_HEADER_TOKEN/,
    ],
    [
      'Content-Length together with Transfer-Encoding (request smuggling)',
      () =>
        'POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      /malformed HTTP request \(HPE_/,
    ],
    [
      'two different Content-Lengths',
      () =>
        'POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n' +
        'Content-Length: 6\r\n\r\nhello',
      400,
      /HPE_UNEXPECTED_CONTENT_LENGTH/,
    ],
    [
      'headers over 16 KB',
      () => `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      /HPE_HEADER_OVERFLOW/,
    ],
    [
      '4,000 small headers (50 KB in all)',
      () =>
        `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 4_000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`,
      431,
      /HPE_HEADER_OVERFLOW/,
    ],
    [
      'a request line over 64 KB',
      () => `GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      431,
      /HPE_HEADER_OVERFLOW/,
    ],
  ];

  it.each(malformed.map(([name, bytes, status, message]) => ({ name, bytes, status, message })))(
    '$name → $status keygate_bad_request, connection closed',
    async ({ bytes, status, message }) => {
      const result = await rawExchange(port, bytes());
      expectNamedError(result, status, 'bad_request', message);
      expect(result.response?.headers.connection).toEqual(['close']);
    },
  );

  it('a TLS ClientHello on the plain port → 400 (no TLS is served on the proxy port)', async () => {
    const hello = await captureClientHello('api.openai.com');
    expect(hello[0]).toBe(0x16); // a TLS handshake record
    const result = await rawExchange(port, hello);
    expectNamedError(result, 400, 'bad_request', /malformed HTTP request \(HPE_/);
  });

  it('a half-sent request, then the client stops sending → 400 (incomplete request)', async () => {
    const result = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHo', { end: true });
    expectNamedError(result, 400, 'bad_request', /HPE_INVALID_EOF_STATE/);
  });

  it('half a CONNECT, then the client vanishes: nothing is acted on, the next CONNECT works', async () => {
    const lastId = lastEvent()?.id;
    const received = upstream.received.length;
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\nProxy-Autho');
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lastEvent()?.id).toBe(lastId);
    expect(upstream.received.length).toBe(received);
    const secure = await connectAndHandshake('api.openai.com:443', 'api.openai.com');
    expect(secure.authorized).toBe(true);
    secure.destroy();
  });

  it('slowloris: request headers trickled byte by byte → 408 after the headers timeout', async () => {
    const started = performance.now();
    const trickle = 'GET /healthz HTTP/1.1\r\nHost: x\r\n'
      .split('')
      .concat(Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: y\r\n`));
    const result = await rawExchange(port, trickle, { gapMs: 100, timeoutMs: 6_000 });
    const elapsed = performance.now() - started;
    expectNamedError(result, 408, 'bad_request', /ERR_HTTP_REQUEST_TIMEOUT/);
    expect(elapsed).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(HEADERS_TIMEOUT_MS + 2_000);
  });

  it('slowloris inside an intercepted TLS connection → 408, nothing sent upstream', async () => {
    const secure = await connectAndHandshake('api.openai.com:443', 'api.openai.com');
    const before = upstream.received.length;
    const trickle = ['GET /slowloris HTTP/1.1\r\n', 'Host: api.openai.com\r\n'].concat(
      Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: y\r\n`),
    );
    const result = await requestOn(secure, trickle, { gapMs: 100, timeoutMs: 6_000 });
    secure.destroy();
    expectNamedError(result, 408, 'bad_request', /ERR_HTTP_REQUEST_TIMEOUT/);
    expect(upstream.received.length).toBe(before);
  });

  it('request smuggling (CL + TE) inside an intercepted connection → 400, nothing sent upstream', async () => {
    const secure = await connectAndHandshake('api.openai.com:443', 'api.openai.com');
    const before = upstream.received.length;
    const result = await requestOn(
      secure,
      'POST /smuggle HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 6\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: api.openai.com\r\n\r\n',
    );
    secure.destroy();
    expectNamedError(result, 400, 'bad_request', /malformed HTTP request \(HPE_/);
    expect(upstream.received.length).toBe(before);
  });

  it('garbage inside an intercepted TLS connection → 400', async () => {
    const secure = await connectAndHandshake('api.openai.com:443', 'api.openai.com');
    const result = await requestOn(secure, '\x00\x01not http at all\r\n\r\n');
    secure.destroy();
    expectNamedError(result, 400, 'bad_request', /malformed HTTP request/);
  });

  it('plaintext HTTP after CONNECT to an intercepted host: the handshake fails, closed, logged', async () => {
    const raw = await connectRaw('api.openai.com:443');
    const before = upstream.received.length;
    const result = await requestOn(raw, 'GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n', {
      timeoutMs: 3_000,
    });
    raw.destroy();
    expect(result.closed).toBe(true);
    expect(result.raw).not.toMatch(/^HTTP\//);
    expect(upstream.received.length).toBe(before);
    expect(fixture.logLines.some((line) => /plain HTTP inside a CONNECT tunnel/.test(line))).toBe(
      true,
    );
  });

  const refusedRequests: Array<[string, () => string, number, string, RegExp]> = [
    [
      'an origin-form request to the proxy port',
      () => 'GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n',
      400,
      'bad_request',
      /this port is an HTTP proxy/,
    ],
    ['OPTIONS *', () => 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad_request', /HTTP proxy/],
    [
      'an absolute-form ftp:// target',
      () => 'GET ftp://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n',
      400,
      'bad_request',
      /cannot proxy "ftp:/,
    ],
    [
      'an absolute-form request without an agent token',
      () => 'GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n',
      407,
      'proxy_auth_required',
      /keygate env/,
    ],
    [
      'an absolute-form request whose Host names another host',
      () =>
        `GET http://example.com/ HTTP/1.1\r\nHost: evil.example.net\r\nProxy-Authorization: ${auth}\r\n\r\n`,
      421,
      'host_mismatch',
      /does not match the request target example\.com:80/,
    ],
    [
      'a plaintext http:// request to a mapped host',
      () =>
        `GET http://api.openai.com/v1/models HTTP/1.1\r\nHost: api.openai.com\r\nProxy-Authorization: ${auth}\r\n\r\n`,
      403,
      'plaintext_refused',
      /refusing plaintext http:\/\/ to a mapped host/,
    ],
  ];

  it.each(
    refusedRequests.map(([name, bytes, status, code, message]) => ({
      name,
      bytes,
      status,
      code,
      message,
    })),
  )('$name → $status keygate_$code, nothing sent', async ({ bytes, status, code, message }) => {
    const before = upstream.received.length;
    const result = await rawExchange(port, bytes());
    expectNamedError(result, status, code, message);
    expect(upstream.received.length).toBe(before);
  });

  it('a WebSocket upgrade without an agent token → 407', async () => {
    const result = await rawExchange(
      port,
      'GET ws://example.com/socket HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n' +
        'Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(result.response?.status).toBe(407);
    expect(result.response?.headers['x-keygate-error']).toEqual(['keygate_proxy_auth_required']);
    expect(keygateBody(result.response)?.error).toBe('keygate_proxy_auth_required');
  });

  it('a request without a Host header gets a named 400', async () => {
    for (const version of ['1.1', '1.0']) {
      // HTTP/1.1: Node's own 400; HTTP/1.0: http-mitm-proxy's "Bad request: Host missing...".
      const result = await rawExchange(port, `GET /v1/models HTTP/${version}\r\n\r\n`);
      expect(result.response?.status).toBe(400);
      expect(result.response?.headers['x-keygate-error']).toEqual(['keygate_bad_request']);
    }
  });

  it('an absolute-form request with Upgrade: h2c is served as HTTP/1.1', async () => {
    const result = await rawExchange(
      port,
      `GET http://127.0.0.1:${echo.port}/ HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\n` +
        `Proxy-Authorization: ${auth}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n` +
        'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
      { timeoutMs: 2_000 },
    );
    // Either forwarded (the echo server answers with the request's own bytes) or a named error.
    expect(
      result.raw.includes('GET / HTTP/1.1') ||
        result.response?.headers['x-keygate-error'] !== undefined,
      result.raw.slice(0, 300),
    ).toBe(true);
  });

  it('a refused WebSocket upgrade has exactly one Content-Type', async () => {
    const result = await rawExchange(
      port,
      'GET ws://example.com/socket HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n' +
        'Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    // Text, as for any client that did not ask for JSON (error-response.ts), and only once.
    expect(result.response?.headers['content-type']).toEqual(['text/plain; charset=utf-8']);
    expect(result.response?.headers['x-should-retry']).toEqual(['false']);
  });

  it('a refused WebSocket upgrade that asks for JSON gets the JSON body, with one Content-Type', async () => {
    const result = await rawExchange(
      port,
      'GET ws://example.com/socket HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n' +
        'Accept: application/json\r\n' +
        'Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(result.response?.headers['content-type']).toEqual(['application/json; charset=utf-8']);
    expect(keygateBody(result.response)?.error).toBe('keygate_proxy_auth_required');
  });
});

// ---- CONNECT targets ------------------------------------------------------------------------

describe('CONNECT targets', () => {
  const invalid: Array<[string, string]> = [
    ['no port', 'api.openai.com'],
    ['port 0', 'api.openai.com:0'],
    ['port 99999', 'api.openai.com:99999'],
    ['an empty port', 'api.openai.com:'],
    ['a named port', 'api.openai.com:https'],
    ['a negative port', 'api.openai.com:-1'],
    ['a port with a sign', 'api.openai.com:+443'],
    ['brackets around a name (GHSA-qwrf-gfpj-qvj6)', '[api.openai.com]:443'],
    ['userinfo', 'user@api.openai.com:443'],
    ['userinfo with a password', 'user:pw@api.openai.com:443'],
    ['an unbracketed IPv6 address', '::1:443'],
    ['an IPv6 zone ID', '[fe80::1%25eth0]:443'],
    ['short-form IPv4 (127.1)', '127.1:443'],
    ['octal IPv4', '0177.0.0.1:443'],
    ['hex IPv4', '0x7f.0.0.1:443'],
    ['a 64-character label', `${'a'.repeat(64)}.example.com:443`],
    ['an underscore', 'api_openai.com:443'],
    ['a percent-encoded dot', 'api%2eopenai.com:443'],
    ['a path', 'api.openai.com:443/v1'],
    ['a wildcard', '*.openai.com:443'],
  ];

  it.each(invalid)('%s (%s) → 400 keygate_bad_request', async (_name, target) => {
    const result = await rawExchange(port, connectHead(target, auth));
    expectNamedError(result, 400, 'bad_request', /^CONNECT target ".*" is not host:port$/);
    expect(lastEvent()).toMatchObject({ outcome: 'denied', status: 400, host: '(invalid)' });
  });

  it('a raw UTF-8 IDN (bücher.example:443) → 400: a request-target must be ASCII', async () => {
    const result = await rawExchange(
      port,
      Buffer.from(connectHead('bücher.example:443', auth), 'utf8'),
    );
    expectNamedError(result, 400, 'bad_request', /HPE_INVALID_URL/);
  });

  it.each([
    ['its punycode', 'xn--bcher-kva.example:443'],
    ['upper-case punycode with a trailing dot', 'XN--BCHER-KVA.EXAMPLE.:443'],
  ])('an unmapped IDN as %s is canonicalised and tunneled', async (_name, target) => {
    const accepted = echo.accepted();
    const raw = await connectRaw(target);
    const echoed = await new Promise<string>((resolve) => {
      raw.once('data', (chunk: Buffer) => resolve(chunk.toString()));
      raw.write('ping-through-tunnel');
    });
    raw.destroy();
    expect(echoed).toBe('ping-through-tunnel');
    expect(echo.accepted()).toBe(accepted + 1);
    expect(lastEvent()).toMatchObject({
      outcome: 'tunneled',
      host: 'xn--bcher-kva.example',
      port: 443,
    });
  });

  it('[::1]:443 is valid syntax: unmapped, so tunneled; nothing listens → 502 keygate_upstream_unreachable', async () => {
    const result = await rawExchange(port, connectHead('[::1]:443', auth));
    expectNamedError(result, 502, 'upstream_unreachable', /^tunnel to ::1:443: could not reach/);
    expect(lastEvent()).toMatchObject({ outcome: 'error', host: '::1', port: 443 });
  });

  it.each([
    ['a trailing dot', 'api.openai.com.:443'],
    ['upper case', 'API.OPENAI.COM:443'],
    ['upper case and a trailing dot', 'Api.OpenAI.Com.:443'],
  ])('%s names the mapped host: intercepted and injected', async (_name, target) => {
    const secure = await connectAndHandshake(target, 'api.openai.com');
    expect(secure.getPeerX509Certificate()?.subjectAltName).toBe('DNS:api.openai.com');
    const result = await requestOn(
      secure,
      'GET /v1/canonical HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer placeholder\r\n\r\n',
    );
    secure.destroy();
    expect(result.response?.status).toBe(200);
    const received = upstream.received.at(-1);
    expect(received?.url).toBe('/v1/canonical');
    expect(received?.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it('a Host header in another spelling of the CONNECT host (API.OpenAI.com.) is the same host', async () => {
    const secure = await connectAndHandshake('api.openai.com:443', 'api.openai.com');
    const result = await requestOn(
      secure,
      'GET /v1/host-spelling HTTP/1.1\r\nHost: API.OpenAI.com.:443\r\n\r\n',
    );
    secure.destroy();
    expect(result.response?.status).toBe(200);
    expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it('a Host header naming another host inside the tunnel → 421, nothing sent upstream', async () => {
    const secure = await connectAndHandshake('api.openai.com:443', 'api.openai.com');
    const before = upstream.received.length;
    const result = await requestOn(
      secure,
      'GET /v1/models HTTP/1.1\r\nHost: api.openai.com.evil.example\r\n\r\n',
    );
    secure.destroy();
    expectNamedError(result, 421, 'host_mismatch', /does not match the CONNECT target/);
    expect(upstream.received.length).toBe(before);
  });
});

// ---- Agent tokens --------------------------------------------------------------------------

describe('agent tokens', () => {
  const bad: Array<[string, () => string | null]> = [
    ['no Proxy-Authorization', () => null],
    ['a wrong token', () => basicAuth('default', 'not-the-token')],
    ['a truncated base64 credential', () => auth.slice(0, -6)],
    ['base64 with its padding cut', () => auth.slice(0, -1)],
    ['a credential that is not base64', () => 'Basic %%%'],
    ['a huge (8 KB) credential', () => `Basic ${'QUFB'.repeat(2_000)}`],
    ['a non-Basic scheme carrying the token', () => `Bearer ${token}`],
    ['a Digest header', () => `Digest username="default", response="${token}"`],
    ['an empty user and password', () => basicAuth('', '')],
    ['"Basic" with nothing after it', () => 'Basic '],
    ['the bare token without a scheme', () => token],
    ['the token with a trailing space', () => basicAuth('default', `${token} `)],
  ];

  it.each(bad)('%s → 407 keygate_proxy_auth_required', async (_name, header) => {
    const before = upstream.received.length;
    const result = await rawExchange(port, connectHead('api.openai.com:443', header()));
    expectNamedError(result, 407, 'proxy_auth_required', /needs an agent token/);
    expect(lastEvent()).toMatchObject({ outcome: 'denied', status: 407, host: 'api.openai.com' });
    expect(upstream.received.length).toBe(before);
  });

  it('a Proxy-Authorization header over 16 KB → 431 keygate_bad_request', async () => {
    const result = await rawExchange(
      port,
      connectHead('api.openai.com:443', `Basic ${'QUFB'.repeat(5_000)}`),
    );
    expectNamedError(result, 431, 'bad_request', /HPE_HEADER_OVERFLOW/);
  });

  it('a revoked agent’s token → 407 on a new CONNECT', async () => {
    const added = await fixture.controller.handlers['agents.add']({ name: 'revoked-new' });
    const revokedAuth = basicAuth('revoked-new', added.token);
    (await connectRaw('xn--bcher-kva.example:443', revokedAuth)).destroy();
    await fixture.controller.handlers['agents.remove']({ name: 'revoked-new' });
    const result = await rawExchange(port, connectHead('api.openai.com:443', revokedAuth));
    expectNamedError(result, 407, 'proxy_auth_required');
  });

  it('a revoked agent → 407 on its open intercepted connection, nothing sent upstream', async () => {
    const added = await fixture.controller.handlers['agents.add']({ name: 'revoked-open' });
    const secure = await connectAndHandshake(
      'api.openai.com:443',
      'api.openai.com',
      basicAuth('revoked-open', added.token),
    );
    const first = await requestOn(
      secure,
      'GET /v1/before HTTP/1.1\r\nHost: api.openai.com\r\n\r\n',
    );
    expect(first.response?.status).toBe(200);
    await fixture.controller.handlers['agents.remove']({ name: 'revoked-open' });
    const before = upstream.received.length;
    const after = await requestOn(secure, 'GET /v1/after HTTP/1.1\r\nHost: api.openai.com\r\n\r\n');
    secure.destroy();
    expectNamedError(after, 407, 'proxy_auth_required');
    expect(upstream.received.length).toBe(before);
  });
});

// ---- Mappings through the contract ------------------------------------------------------------

describe('mappings through the contract (mappings.upsert)', () => {
  const PASTED_KEY = 'sk-live-PASTED-0123456789abcdef';
  const refused: Array<[string, MappingInput, RegExp]> = [
    ['an empty host', { host: '', ref: 'env://K' }, /^host is empty$/],
    ['a blank host', { host: '   ', ref: 'env://K' }, /^host is empty$/],
    [
      'a wildcard in the middle',
      { host: 'api.*.com', ref: 'env://K' },
      /wildcard is only allowed as the whole leftmost label/,
    ],
    [
      'a wildcard at the end',
      { host: 'api.example.*', ref: 'env://K' },
      /wildcard is only allowed as the whole leftmost label/,
    ],
    [
      'a wildcard inside a label',
      { host: '*api.example.com', ref: 'env://K' },
      /wildcard must be a whole label/,
    ],
    ['a bare *', { host: '*', ref: 'env://K' }, /bare "\*" would match every host/],
    [
      'a wildcard over a top-level domain',
      { host: '*.com', ref: 'env://K' },
      /would match every host under a top-level domain/,
    ],
    [
      'two wildcards',
      { host: '*.*.example.com', ref: 'env://K' },
      /wildcard is only allowed as the whole leftmost label/,
    ],
    [
      'a wildcard over an IP address',
      { host: '*.1.2.3.4', ref: 'env://K' },
      /needs a domain name after "\*\.", not an IP address/,
    ],
    [
      'a URL instead of a host',
      { host: 'https://api.openai.com/v1', ref: 'env://K' },
      /pass only the host name: api\.openai\.com/,
    ],
    ['userinfo in the host', { host: 'user@api.openai.com', ref: 'env://K' }, /contains "@"/],
    ['an underscore', { host: 'api_openai.com', ref: 'env://K' }, /not a valid host name/],
    ['short-form IPv4', { host: '127.1', ref: 'env://K' }, /not a valid host name/],
    ['an IP with port 0', { host: '1.2.3.4:0', ref: 'env://K' }, /port "0" is not a number/],
    [
      'an IPv6 address with port 99999',
      { host: '[::1]:99999', ref: 'env://K' },
      /port "99999" is not a number from 1 to 65535/,
    ],
    ['an unclosed bracket', { host: '[::1', ref: 'env://K' }, /"\[" without a closing "\]"/],
    [
      'an IP with a port and a different port field',
      { host: '1.2.3.4:8443', ref: 'env://K', port: 443 },
      /says port 8443 but port is 443; give the port once/,
    ],
    ['port 0', { host: 'a.example.com', ref: 'env://K', port: 0 }, /port 0 is not an integer/],
    [
      'a fractional port',
      { host: 'a.example.com', ref: 'env://K', port: 1.5 },
      /port 1\.5 is not an integer/,
    ],
    [
      'op://vault/item without a field',
      { host: 'a.example.com', ref: 'op://v/i' },
      /ref op:\/\/…: secret reference has invalid format/,
    ],
    [
      'op:/x (one slash)',
      { host: 'a.example.com', ref: 'op:/x' },
      /not shown: it has no scheme:\/\/.*use env:\/\/NAME or op:\/\/vault\/item\/field/,
    ],
    [
      'an unknown ?attribute',
      { host: 'a.example.com', ref: 'op://v/i/f?attribute=bogus' },
      /invalid query parameter value/,
    ],
    [
      'op:// with a non-ASCII name',
      { host: 'a.example.com', ref: 'op://vä/i/f' },
      /invalid character in secret reference.*as its ID/,
    ],
    [
      'op:// with too many segments',
      { host: 'a.example.com', ref: 'op://v/i/s/f/g' },
      /secret reference has invalid format/,
    ],
    ['an upper-case scheme', { host: 'a.example.com', ref: 'OP://v/i/f' }, /unknown scheme "OP"/],
    [
      'env:// without a name',
      { host: 'a.example.com', ref: 'env://' },
      /env:\/\/ needs a variable name/,
    ],
    [
      'env:// with a dash',
      { host: 'a.example.com', ref: 'env://A-B' },
      /may hold only letters, digits and underscores/,
    ],
    ['a blank ref', { host: 'a.example.com', ref: '  ' }, /^ref is empty$/],
    [
      'a header injector without a name',
      { host: 'a.example.com', ref: 'env://K', header: '' },
      /^header name is empty$/,
    ],
    [
      'a query injector without a name',
      { host: 'a.example.com', ref: 'env://K', query: '' },
      /^query parameter name is empty$/,
    ],
    [
      'an api-key injector without a name',
      { host: 'a.example.com', ref: 'env://K', apiKeyHeader: '' },
      /^api-key header name is empty$/,
    ],
    [
      'a basic injector without a user ref',
      { host: 'a.example.com', ref: 'env://K', basicUserRef: '' },
      /^basic user ref is empty$/,
    ],
    [
      'a format template without {secret}',
      { host: 'a.example.com', ref: 'env://K', header: 'x-key', format: 'Key abc' },
      /format "Key abc" must contain \{secret\}/,
    ],
    [
      'a format template without a header',
      { host: 'a.example.com', ref: 'env://K', format: 'Bearer {secret}' },
      /format applies only to a header injector/,
    ],
    [
      'two injectors at once',
      { host: 'a.example.com', ref: 'env://K', header: 'x-a', bearer: true },
      /choose one way to inject the secret, not 2 \(got bearer, header\)/,
    ],
    [
      'a header that frames the message (Host)',
      { host: 'a.example.com', ref: 'env://K', header: 'Host' },
      /header "Host" controls the connection or message framing/,
    ],
    [
      'a header that frames the message (content-length)',
      { host: 'a.example.com', ref: 'env://K', header: 'content-length' },
      /header "content-length" controls the connection/,
    ],
    [
      'a header name with a space',
      { host: 'a.example.com', ref: 'env://K', header: 'X Bad' },
      /not a valid HTTP field name/,
    ],
    [
      'a path glob without a leading /',
      { host: 'a.example.com', ref: 'env://K', path: 'v1/**' },
      /path glob must start with "\/"/,
    ],
    [
      'an unknown preset',
      { host: 'a.example.com', ref: 'env://K', preset: 'nope' },
      /unknown preset "nope"/,
    ],
  ];

  it.each(refused)(
    '%s → InvalidInputError naming it; settings unchanged',
    async (_n, input, message) => {
      const before = JSON.stringify(fixture.engine.store.get().mappings);
      const error = await fixture.controller.handlers['mappings.upsert'](input).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toMatch(message);
      expect(JSON.stringify(fixture.engine.store.get().mappings)).toBe(before);
    },
  );

  it('a pasted key as the ref → refused without repeating the key', async () => {
    const error = await fixture.controller.handlers['mappings.upsert']({
      host: 'a.example.com',
      ref: PASTED_KEY,
    }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error?.message).toMatch(/not shown: it has no scheme/);
    expect(error?.message).not.toContain(PASTED_KEY);
    expect(JSON.stringify(fixture.engine.store.get())).not.toContain(PASTED_KEY);
  });

  it.each([
    ['a host that is not a string', { host: 42, ref: 'env://K' }, /host must be a string/],
    ['a ref that is not a string', { host: 'a.example.com', ref: null }, /ref must be a string/],
    [
      'a port that is not a number',
      { host: 'a.example.com', ref: 'env://K', port: '443' },
      /port must be a number/,
    ],
    [
      'a header that is not a string',
      { host: 'a.example.com', ref: 'env://K', header: ['x-a'] },
      /header must be a string/,
    ],
  ])(
    'untyped contract input (the app’s transports carry JSON): %s → InvalidRequestError',
    async (_n, input, message) => {
      // Through dispatch(), as every transport calls: the schema names the field.
      const error = await dispatch(fixture.controller.handlers, 'mappings.upsert', input).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toMatch(message);
    },
  );

  const accepted: Array<
    [string, MappingInput, Partial<{ name: string; host: string; ref: string; port: number }>]
  > = [
    [
      'op:// names with spaces (valid)',
      { host: 'spaces.example.com', ref: 'op://a b/c/d' },
      { ref: 'op://a b/c/d' },
    ],
    [
      'op:// with ?attribute=otp (valid)',
      { host: 'otp.example.com', ref: 'op://v/i/f?attribute=otp' },
      { ref: 'op://v/i/f?attribute=otp' },
    ],
    [
      'op:// with a section (valid)',
      { host: 'section.example.com', ref: 'op://v/i/s/f' },
      { ref: 'op://v/i/s/f' },
    ],
    [
      'an IP with a port',
      { host: '127.0.0.1:8443', ref: 'env://K' },
      { host: '127.0.0.1', port: 8443 },
    ],
    [
      'an upper-case host with a trailing dot',
      { host: 'API.Example.COM.', ref: 'env://K' },
      { host: 'api.example.com' },
    ],
    [
      'an IDN in Unicode',
      { host: 'bücher.example', ref: 'env://K' },
      { host: 'xn--bcher-kva.example' },
    ],
    ['a bracketed IPv6 address', { host: '[0:0::1]', ref: 'env://K' }, { host: '::1' }],
  ];

  it.each(accepted)('%s is accepted, canonicalised', async (_n, input, expected) => {
    const view = await fixture.controller.handlers['mappings.upsert'](input);
    expect(view).toMatchObject(expected);
    expect(fixture.engine.store.get().mappings.some((m) => m.host === view.host)).toBe(true);
    const { removed } = await fixture.controller.handlers['mappings.remove']({ host: view.host });
    expect(removed).toBe(1);
  });

  it('a mapping for an IDN intercepts CONNECTs to its punycode name', async () => {
    await fixture.controller.handlers['mappings.upsert']({
      host: 'straße.example',
      ref: 'env://OPENAI_KEY',
    });
    try {
      const secure = await connectAndHandshake(
        'xn--strae-oqa.example:443',
        'xn--strae-oqa.example',
      );
      expect(secure.getPeerX509Certificate()?.subjectAltName).toBe('DNS:xn--strae-oqa.example');
      const result = await requestOn(
        secure,
        'GET /v1/idn HTTP/1.1\r\nHost: xn--strae-oqa.example\r\n\r\n',
      );
      secure.destroy();
      expect(result.response?.status).toBe(200);
      expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    } finally {
      await fixture.controller.handlers['mappings.remove']({ host: 'xn--strae-oqa.example' });
    }
  });
});

// ---- Settings files changed under the running engine -----------------------------------------

describe('settings changed under the running engine', () => {
  let logsDuringCorruptWrite: string[] = [];

  async function injects(): Promise<void> {
    const dispatcher = new ProxyAgent({ uri: fixture.proxyUrl(), requestTls: { ca: caPem } });
    try {
      const response = await request('https://api.openai.com/v1/still-injecting', { dispatcher });
      await response.body.text();
      expect(response.statusCode).toBe(200);
      expect(upstream.received.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    } finally {
      await dispatcher.close();
    }
  }

  /** Writes `text` over settings.json, waits out conf's poll + debounce, then restores it. */
  async function withFileContent(text: string, during: () => Promise<void>): Promise<void> {
    const file = join(fixture.home, 'settings.json');
    const good = readFileSync(file, 'utf8');
    const settings = fixture.engine.store.get();
    writeFileSync(file, text);
    try {
      // Linux: conf polls every 500 ms and debounces 1 s.
      await new Promise((resolve) => setTimeout(resolve, 1_800));
      expect(fixture.engine.store.get()).toBe(settings);
      await during();
      // The watcher never moves or rewrites the file: whoever wrote it may still be editing.
      expect(readFileSync(file, 'utf8')).toBe(text);
      expect(readdirSync(fixture.home).filter((n) => n.includes('corrupt'))).toEqual([]);
    } finally {
      writeFileSync(file, good, { mode: 0o600 });
    }
  }

  it('a corrupt settings.json written by hand: the last good settings stay in force', async () => {
    const lines = fixture.logLines.length;
    await withFileContent('{ "mappings": [ { "host": "half-writt', injects);
    logsDuringCorruptWrite = fixture.logLines.slice(lines);
  });

  it('a settings.json from a future schema version: ignored, the last good settings stay', async () => {
    await withFileContent(
      JSON.stringify({ schemaVersion: SETTINGS_SCHEMA_VERSION + 1, mappings: [], agents: [] }),
      injects,
    );
  });

  it('a settings.json whose mappings fail validation: ignored, the last good settings stay', async () => {
    const valid = JSON.parse(readFileSync(join(fixture.home, 'settings.json'), 'utf8')) as {
      mappings: unknown[];
    };
    valid.mappings.push({ host: '', ref: 'not a ref', injector: { type: 'nope' } });
    await withFileContent(JSON.stringify(valid), injects);
  });

  it('serve logs that it ignored an invalid settings.json', () => {
    expect(logsDuringCorruptWrite.join('\n')).toMatch(/settings/i);
  });
});

describe('bystanders', () => {
  it('the long-lived connection and the SSE stream saw every case through, undisturbed', async () => {
    const { exchanges, events } = await bystanders.finish();
    // One exchange per case (afterEach) plus the first and last.
    expect(exchanges).toBeGreaterThan(100);
    expect(events).toBeGreaterThan(100);
    expect(fixture.logLines.filter((line) => /unexpected proxy error/.test(line))).toEqual([]);
    bystanders = { check: async () => undefined, finish: bystanders.finish };
  });
});
