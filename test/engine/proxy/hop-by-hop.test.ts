/**
 * Hop-by-hop headers (src/engine/proxy/hop-by-hop.ts): what Keygate drops between the agent and
 * the upstream, in both directions (RFC 9110 §7.6.1), and how repeated response headers merge.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  forwardableRequestHeaders,
  forwardableResponseHeaders,
} from '../../../src/engine/proxy/hop-by-hop.js';

const STANDARD = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

const servers: http.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

describe('forwardableRequestHeaders', () => {
  it('drops the standard hop-by-hop set and keeps end-to-end headers', () => {
    const headers: http.IncomingHttpHeaders = { host: 'a.test', accept: '*/*', 'x-keep': '1' };
    for (const name of STANDARD) headers[name] = 'v';
    expect(forwardableRequestHeaders(headers)).toEqual({
      host: 'a.test',
      accept: '*/*',
      'x-keep': '1',
    });
  });

  it('drops every proxy-* header, so the agent token never reaches an upstream', () => {
    const out = forwardableRequestHeaders({
      'proxy-authorization': 'Basic YWdlbnQ6dG9rZW4=',
      'proxy-anything': 'x',
      authorization: 'Bearer placeholder',
    });
    expect(out).toEqual({ authorization: 'Bearer placeholder' });
  });

  it('drops the headers the Connection header names, case- and space-insensitively', () => {
    const out = forwardableRequestHeaders({
      connection: 'close, X-Private ,x-other',
      'x-private': 'a',
      'x-other': 'b',
      'x-public': 'c',
    });
    expect(out).toEqual({ 'x-public': 'c' });
  });

  it('reads a Connection header given as a list', () => {
    const out = forwardableRequestHeaders({
      connection: ['x-one', 'x-two'] as unknown as string,
      'x-one': '1',
      'x-two': '2',
      'x-three': '3',
    });
    expect(out).toEqual({ 'x-three': '3' });
  });

  it('drops what a real client named in Connection, as Node parsed it', async () => {
    let seen: Record<string, string | string[] | undefined> | undefined;
    const server = http.createServer((req, res) => {
      seen = forwardableRequestHeaders(req.headers);
      res.end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve, reject) => {
      http
        .get(
          {
            host: '127.0.0.1',
            port,
            path: '/',
            agent: false,
            headers: { connection: 'x-hop', 'x-hop': 'gone', 'x-end': 'kept', te: 'trailers' },
          },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        )
        .on('error', reject);
    });
    expect(seen).toBeDefined();
    expect(seen?.['x-end']).toBe('kept');
    expect(seen).not.toHaveProperty('x-hop');
    expect(seen).not.toHaveProperty('te');
    expect(seen).not.toHaveProperty('connection');
  });
});

describe('forwardableResponseHeaders', () => {
  it('drops the standard hop-by-hop set, whatever the case, and lower-cases the rest', () => {
    const raw: string[] = [];
    for (const name of STANDARD) raw.push(name.toUpperCase(), 'v');
    raw.push('Content-Type', 'application/json', 'X-Request-Id', 'r1');
    expect(forwardableResponseHeaders(raw)).toEqual({
      'content-type': 'application/json',
      'x-request-id': 'r1',
    });
  });

  it('drops the headers the Connection header names', () => {
    const out = forwardableResponseHeaders([
      'X-Private',
      'a',
      'Connection',
      'keep-alive, X-Private',
      'X-Public',
      'b',
    ]);
    expect(out).toEqual({ 'x-public': 'b' });
  });

  it('drops the headers named by every Connection field, not only the last', () => {
    const out = forwardableResponseHeaders([
      'Connection',
      'X-Private',
      'X-Private',
      'a',
      'Connection',
      'keep-alive',
      'X-Public',
      'b',
    ]);
    expect(out).toEqual({ 'x-public': 'b' });
  });

  it('merges repeated headers into a list, in order', () => {
    const out = forwardableResponseHeaders([
      'Set-Cookie',
      'a=1',
      'set-cookie',
      'b=2',
      'SET-COOKIE',
      'c=3',
      'Vary',
      'Accept',
    ]);
    expect(out).toEqual({ 'set-cookie': ['a=1', 'b=2', 'c=3'], vary: 'Accept' });
  });

  it('ignores a dangling name without a value', () => {
    expect(forwardableResponseHeaders(['X-A', '1', 'X-Dangling'])).toEqual({ 'x-a': '1' });
  });

  it('keeps the real upstream headers Node gives as rawHeaders, minus hop-by-hop', async () => {
    const server = http.createServer((_req, res) => {
      res.setHeader('Connection', 'x-hop');
      res.setHeader('X-Hop', 'gone');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.end('ok');
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const raw = await new Promise<string[]>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.rawHeaders));
        })
        .on('error', reject);
    });
    const out = forwardableResponseHeaders(raw);
    expect(out['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(out['content-length']).toBe('2');
    expect(out).not.toHaveProperty('x-hop');
    expect(out).not.toHaveProperty('connection');
    expect(out).not.toHaveProperty('transfer-encoding');
  });
});
