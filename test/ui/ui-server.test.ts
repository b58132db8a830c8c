/**
 * `keygate serve --ui`'s HTTP transport, attacked the way a browser page could: every check runs
 * against a real serve process, with raw requests so Host, Origin and paths go out verbatim.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tempHome } from '../helpers/keygate-process.js';
import { startUiServe, type UiServeHandle } from '../helpers/ui-serve.js';

// Spelled out, not imported from src/shared/csp.ts: a change to the policy must show here.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; " +
  "frame-ancestors 'none'";

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let serve: UiServeHandle;
let home: ReturnType<typeof tempHome>;

/** One request exactly as given: the path is not normalised and Host is whatever we say. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string | number> = {},
  body?: string | Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: serve.uiPort,
        method,
        path,
        headers: { host: `127.0.0.1:${serve.uiPort}`, ...headers },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function api(
  op: string,
  body: unknown = {},
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return raw(
    'POST',
    `/api/${op}`,
    {
      authorization: `Bearer ${serve.uiToken}`,
      'content-type': 'application/json',
      ...headers,
    },
    JSON.stringify(body),
  );
}

function corsHeaders(res: RawResponse): string[] {
  return Object.keys(res.headers).filter((name) => name.startsWith('access-control-'));
}

beforeAll(async () => {
  home = tempHome();
  serve = await startUiServe(home.home);
});

afterAll(async () => {
  await serve?.stop();
  home?.cleanup();
});

describe('serve --ui start-up', () => {
  it('keeps the listening line first and prints the settings link once, token in the fragment', () => {
    const lines = serve.stdout().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^keygate listening on http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines[1]).toMatch(
      /^keygate settings at http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/,
    );
    // 43 base64url characters = 256 bits.
    expect(Buffer.from(serve.uiToken, 'base64url')).toHaveLength(32);
    expect(serve.stderr()).not.toContain(serve.uiToken);
  });
});

describe('authentication', () => {
  it('a missing token is 401', async () => {
    const res = await raw(
      'POST',
      '/api/mappings.list',
      { 'content-type': 'application/json' },
      '{}',
    );
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(JSON.parse(res.body)).toEqual({
      error: { name: 'Unauthorized', message: expect.any(String), code: 'unauthorized' },
    });
  });

  it('a wrong token is 401, whatever its length or scheme', async () => {
    const sameLength = serve.uiToken.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    for (const authorization of [
      `Bearer ${sameLength}`,
      `Bearer ${serve.uiToken}x`,
      `Bearer ${serve.uiToken.slice(0, -1)}`,
      'Bearer ',
      `Basic ${serve.uiToken}`,
      `bearer${serve.uiToken}`,
    ]) {
      const res = await api('mappings.list', {}, { authorization });
      expect(res.status, authorization).toBe(401);
    }
  });

  it('the token is not accepted from the query string or a cookie', async () => {
    for (const [path, headers] of [
      [`/api/mappings.list?token=${serve.uiToken}`, {}],
      ['/api/mappings.list', { cookie: `token=${serve.uiToken}` }],
    ] as const) {
      const res = await raw('POST', path, { 'content-type': 'application/json', ...headers }, '{}');
      expect(res.status).toBe(401);
    }
  });
});

describe('DNS rebinding and cross-origin', () => {
  it('a foreign Host header is 403, for the API and for files', async () => {
    for (const host of [
      `evil.example:${serve.uiPort}`,
      'evil.example',
      `127.0.0.1:${serve.uiPort + 1}`,
      '127.0.0.1',
      `[::1]:${serve.uiPort}`,
      `127.0.0.1.evil.example:${serve.uiPort}`,
    ]) {
      const apiRes = await api('mappings.list', {}, { host });
      expect(apiRes.status, host).toBe(403);
      const fileRes = await raw('GET', '/', { host });
      expect(fileRes.status, host).toBe(403);
      expect(fileRes.body).not.toContain('<html');
    }
  });

  it('accepts localhost:PORT as the Host', async () => {
    const res = await api('proxy.status', {}, { host: `localhost:${serve.uiPort}` });
    expect(res.status).toBe(200);
  });

  it('a foreign Origin is 403 even with the right token', async () => {
    for (const origin of [
      'http://evil.example',
      'null',
      `http://127.0.0.1:${serve.uiPort + 1}`,
      `https://127.0.0.1:${serve.uiPort}`,
      `http://127.0.0.1.evil.example:${serve.uiPort}`,
    ]) {
      const res = await api('mappings.list', {}, { origin });
      expect(res.status, origin).toBe(403);
      expect(corsHeaders(res)).toEqual([]);
    }
  });

  it('its own Origin, either spelling, is allowed', async () => {
    for (const origin of [`http://127.0.0.1:${serve.uiPort}`, `http://localhost:${serve.uiPort}`]) {
      const res = await api('proxy.status', {}, { origin });
      expect(res.status, origin).toBe(200);
    }
  });

  it('never sends CORS headers, and answers a preflight with 405', async () => {
    const preflight = await raw('OPTIONS', '/api/mappings.list', {
      origin: `http://127.0.0.1:${serve.uiPort}`,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    });
    expect(preflight.status).toBe(405);
    const responses = [
      preflight,
      await raw('OPTIONS', '/'),
      await raw('GET', '/'),
      await raw('GET', '/renderer/main.js', { origin: `http://127.0.0.1:${serve.uiPort}` }),
      await api('proxy.status'),
      await api('proxy.status', {}, { origin: 'http://evil.example' }),
      await api('proxy.status', {}, { authorization: 'Bearer nope' }),
      await api('no.such.op'),
    ];
    for (const res of responses) expect(corsHeaders(res)).toEqual([]);
  });
});

describe('the API', () => {
  it('only POST: GET is 405', async () => {
    const res = await raw('GET', '/api/proxy.status', { authorization: `Bearer ${serve.uiToken}` });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
  });

  it('needs a JSON body: other content types are 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      const res = await api('mappings.list', {}, { 'content-type': type });
      expect(res.status, type).toBe(415);
    }
    const missing = await raw(
      'POST',
      '/api/mappings.list',
      { authorization: `Bearer ${serve.uiToken}` },
      '{}',
    );
    expect(missing.status).toBe(415);
    const withCharset = await api(
      'proxy.status',
      {},
      { 'content-type': 'application/json; charset=utf-8' },
    );
    expect(withCharset.status).toBe(200);
  });

  it('bodies over 1 MB are 413', async () => {
    const big = JSON.stringify({ host: 'x'.repeat(1024 * 1024) });
    const res = await raw(
      'POST',
      '/api/mappings.upsert',
      { authorization: `Bearer ${serve.uiToken}`, 'content-type': 'application/json' },
      big,
    );
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.name).toBe('PayloadTooLarge');
  });

  it('an unknown operation is 404, including prototype names', async () => {
    for (const op of [
      'no.such.op',
      '__proto__',
      'constructor',
      'toString',
      '',
      'mappings.list/x',
    ]) {
      const res = await api(op);
      expect(res.status, op).toBe(404);
    }
  });

  it('invalid input is 400 with the contract’s message', async () => {
    const res = await api('mappings.upsert', {
      host: 'https://api.openai.com/v1/chat',
      ref: 'env://OPENAI_API_KEY',
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({
      error: {
        name: 'InvalidInputError',
        code: 'invalid_input',
        message:
          'host "https://api.openai.com/v1/chat": pass only the host name: api.openai.com (no scheme or path; use path for a path glob)',
      },
    });
    // A pasted key is refused without being echoed back.
    const pasted = await api('mappings.upsert', {
      host: 'api.openai.com',
      ref: 'sk-live-CANARY-123',
    });
    expect(pasted.status).toBe(400);
    expect(pasted.body).not.toContain('sk-live-CANARY-123');
  });

  it('a key pasted after a scheme is refused showing the scheme only (issue 9 §5)', async () => {
    const cases = [
      { ref: 'env://sk-live-CANARY-4f9a2b7c1d' },
      { ref: 'op://sk-proj-CANARY-4f9a2b7c1d' },
      { ref: 'op://Private/OpenAI/sk-CANARY€4f9a2b7c1d' },
      { ref: 'env://PASSWORD', basicUserRef: 'env://sk-live-CANARY-4f9a2b7c1d' },
    ];
    for (const { ref, basicUserRef } of cases) {
      const res = await api('mappings.upsert', {
        host: 'api.openai.com',
        ref,
        ...(basicUserRef ? { basicUserRef } : {}),
      });
      expect(res.status, ref).toBe(400);
      expect(res.body, ref).not.toMatch(/CANARY|4f9a2b7c1d/);
      expect(JSON.parse(res.body).error.message, ref).toMatch(
        /^(basic user ref|ref) (env|op):\/\/…: /,
      );
    }
  });

  it('malformed bodies are 400 InvalidRequestError: not JSON, not an object', async () => {
    for (const body of ['{', '[]', 'null', '"text"', '42']) {
      const res = await raw(
        'POST',
        '/api/mappings.list',
        { authorization: `Bearer ${serve.uiToken}`, 'content-type': 'application/json' },
        body,
      );
      expect(res.status, body).toBe(400);
      expect(JSON.parse(res.body).error).toMatchObject({
        name: 'InvalidRequestError',
        code: 'invalid_request',
      });
    }
  });

  it('a request its schema refuses is 400 with name, code and message only, never a stack', async () => {
    // No host at all: refused before the handler runs (it once met a TypeError inside it).
    // A handler's own failure is a 500 (test/ui/contract-transports.test.ts).
    const res = await api('mappings.test', {});
    expect(res.status).toBe(400);
    const body = JSON.parse(res.body) as { error: Record<string, unknown> };
    expect(body.error).toEqual({
      name: 'InvalidRequestError',
      code: 'invalid_request',
      message: 'mappings.test: host must be a string',
    });
    expect(res.body).not.toMatch(/\n\s+at /);
    expect(res.body).not.toContain('.js:');
  });

  it('a real round trip: mappings.upsert, then mappings.list and live proxy.status', async () => {
    const upsert = await api('mappings.upsert', {
      host: 'api.openai.com',
      ref: 'env://OPENAI_API_KEY',
      preset: 'openai',
    });
    expect(upsert.status).toBe(200);
    expect(JSON.parse(upsert.body).result).toMatchObject({
      name: 'api.openai.com',
      ref: 'env://OPENAI_API_KEY',
      preset: 'openai',
      injector: { type: 'bearer' },
    });
    const list = await api('mappings.list');
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body).result).toEqual([
      expect.objectContaining({ host: 'api.openai.com', ref: 'env://OPENAI_API_KEY' }),
    ]);
    const status = JSON.parse((await api('proxy.status')).body).result;
    expect(status).toMatchObject({ running: true, address: serve.url, mappings: 1 });
    const answer = await api('mappings.list');
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['cache-control']).toBe('no-store');
  });
});

describe('static files', () => {
  it('serves the renderer with a strict CSP and no-sniff, no-referrer, no-store', async () => {
    const res = await raw('GET', '/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(CSP);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toContain('<script type="module" src="renderer/main.js">');
    // No inline script or style the CSP would have to allow.
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(res.body).not.toMatch(/<style|style="/);
  });

  it('serves the compiled modules as JavaScript, renderer and shared, all from dist/renderer', async () => {
    for (const path of [
      '/renderer/main.js',
      '/renderer/sections/mappings.js',
      '/shared/api-client.js',
      '/shared/api.js',
    ]) {
      const res = await raw('GET', path);
      expect(res.status, path).toBe(200);
      expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(res.headers['content-security-policy']).toBe(CSP);
    }
    expect((await raw('GET', '/styles.css')).headers['content-type']).toBe(
      'text/css; charset=utf-8',
    );
    const head = await raw('HEAD', '/renderer/main.js');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('blocks path traversal, encoded or not', async () => {
    const packageJson = readFileSync(join(REPO_ROOT, 'package.json'), 'utf8');
    for (const path of [
      '/../package.json',
      '/../../package.json',
      '/%2e%2e/package.json',
      '/%2E%2E/%2e%2e/package.json',
      '/..%2fpackage.json',
      '/..%2f..%2fpackage.json',
      '/%2e%2e%2f%2e%2e%2fpackage.json',
      '/shared/../../package.json',
      '/shared/..%2f..%2fpackage.json',
      '/shared/%2e%2e/%2e%2e/package.json',
      '/..%5c..%5cpackage.json',
      '/..\\..\\package.json',
      '/%00/../package.json',
      '/../cli/keygate.js',
      '/%2e%2e/cli/keygate.js',
      '/renderer/..%2f..%2fcli%2fkeygate.js',
      '/shared/%2e%2e/%2e%2e/cli/keygate.js',
      '//etc/passwd',
      '/%2fetc%2fpasswd',
    ]) {
      const res = await raw('GET', path);
      expect([400, 404], path).toContain(res.status);
      expect(res.body, path).not.toContain(packageJson.slice(0, 40));
      expect(res.body, path).not.toContain('root:');
    }
  });

  it('serves only known file types, and no directories', async () => {
    for (const path of [
      '/renderer/main.js.map',
      '/shared/api.js.map',
      '/renderer/../index.html',
      '/renderer/',
      '/renderer/sections',
    ]) {
      expect((await raw('GET', path)).status, path).toBe(404);
    }
  });

  it('only GET and HEAD for files', async () => {
    const res = await raw('POST', '/', { 'content-type': 'application/json' }, '{}');
    expect(res.status).toBe(405);
  });
});

describe('shutdown', () => {
  it('SIGTERM closes the settings server with the proxy', async () => {
    const extraHome = tempHome();
    const other = await startUiServe(extraHome.home);
    try {
      const port = other.uiPort;
      expect(await other.stop('SIGTERM')).toBe(0);
      await expect(
        new Promise((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, path: '/', agent: false }, resolve);
          req.on('error', reject);
          req.end();
        }),
      ).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await other.stop();
      extraHome.cleanup();
    }
  });
});
