/**
 * Rotation replay (src/engine/proxy/rotation-replay.ts): what a request keeps so it can be sent
 * again after a 401/403 (its body only when it has none, or one of at most 64 KiB sent with a
 * Content-Length and received whole), and refreshedSecrets, which asks the real SecretResolver
 * for a rotated value once (single-flight) and never rejects. Requests are real HTTP requests
 * to a loopback server, read by the record beside a pipe, as in the proxy.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProxyContext } from '../../../src/engine/proxy/proxy-context.js';
import { ReplayRecord, refreshedSecrets } from '../../../src/engine/proxy/rotation-replay.js';
import { CompiledMapping } from '../../../src/engine/rules/compiled-mapping.js';
import { REPLAY_BODY_LIMIT } from '../../../src/engine/secrets/replay-policy.js';
import { Secret } from '../../../src/engine/secrets/secret.js';
import { SecretResolver } from '../../../src/engine/secrets/secret-resolver.js';
import { SecretSourceError } from '../../../src/engine/secrets/secret-source.js';
import { FakeClock, RotatingSource } from '../../helpers/rotating-source.js';

const servers: http.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

interface Seen {
  /** body() before the agent finished sending. */
  early: ReturnType<ReplayRecord['body']>;
  /** body() once the request ended. */
  late: ReturnType<ReplayRecord['body']>;
  /** What the pipe beside the record received. */
  piped: Buffer;
  /** mayReplay for each status, once the request ended. */
  verdicts: Record<number, boolean>;
}

const STATUSES = [200, 400, 401, 403, 404, 407, 500];

/** Sends one request; the server records it as the proxy does (record, then pipe, same tick). */
async function send(options: {
  body?: Buffer;
  headers?: http.OutgoingHttpHeaders;
  chunked?: boolean;
}): Promise<Seen> {
  let resolveSeen: (seen: Seen) => void = () => undefined;
  const seen = new Promise<Seen>((resolve) => (resolveSeen = resolve));
  const server = http.createServer((req, res) => {
    const record = new ReplayRecord(req, { primary: new Secret('key-v1') });
    const early = record.body(req);
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    });
    req.pipe(sink);
    sink.on('finish', () => {
      const verdicts: Record<number, boolean> = {};
      for (const status of STATUSES) verdicts[status] = record.mayReplay(status, req);
      resolveSeen({ early, late: record.body(req), piped: Buffer.concat(chunks), verdicts });
      res.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.body ? 'POST' : 'GET',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    if (options.body && options.chunked) {
      // Two writes without a Content-Length: Node sends Transfer-Encoding: chunked.
      req.write(options.body.subarray(0, 1));
      req.end(options.body.subarray(1));
    } else {
      req.end(options.body);
    }
  });
  return seen;
}

const rejectionOnly = {
  200: false,
  400: false,
  401: true,
  403: true,
  404: false,
  407: false,
  500: false,
};
const never = Object.fromEntries(STATUSES.map((s) => [s, false]));

describe('ReplayRecord', () => {
  it('keeps nothing of a request without a body, and replays it on 401 and 403 only', async () => {
    const seen = await send({});
    expect(seen.early).toBeUndefined();
    expect(seen.late).toBeUndefined();
    expect(seen.verdicts).toEqual(rejectionOnly);
  });

  it('keeps a small body whole once received, without taking it from the pipe', async () => {
    const body = Buffer.from('{"model":"m","input":"hello"}');
    const seen = await send({ body, headers: { 'content-length': body.length } });
    expect(seen.early).toBe('incomplete');
    expect(seen.late).toEqual(body);
    expect(seen.piped).toEqual(body);
    expect(seen.verdicts).toEqual(rejectionOnly);
  });

  it('keeps a body of exactly 64 KiB', async () => {
    const body = Buffer.alloc(REPLAY_BODY_LIMIT, 0x61);
    const seen = await send({ body, headers: { 'content-length': body.length } });
    expect(REPLAY_BODY_LIMIT).toBe(64 * 1024);
    expect(seen.late).toEqual(body);
    expect(seen.verdicts).toEqual(rejectionOnly);
  });

  it('keeps nothing of a body one byte over 64 KiB, and never replays it', async () => {
    const body = Buffer.alloc(REPLAY_BODY_LIMIT + 1, 0x62);
    const seen = await send({ body, headers: { 'content-length': body.length } });
    expect(seen.early).toBe('incomplete');
    expect(seen.late).toBe('incomplete');
    expect(seen.piped).toEqual(body);
    expect(seen.verdicts).toEqual(never);
  });

  it('treats a chunked body as streamed, however small', async () => {
    const body = Buffer.from('tiny');
    const seen = await send({ body, chunked: true });
    expect(seen.late).toBe('incomplete');
    expect(seen.piped).toEqual(body);
    expect(seen.verdicts).toEqual(never);
  });
});

const mapping = new CompiledMapping({
  host: 'api.example.com',
  ref: 'rot://key',
  injector: { type: 'bearer' },
});

async function setup() {
  const source = new RotatingSource();
  const clock = new FakeClock();
  const resolver = new SecretResolver({ sources: [source], clock, refreshIntervalMs: 30_000 });
  // refreshedSecrets reads only the resolver from the context.
  const partial: Pick<ProxyContext, 'options'> = {
    options: { resolver } as ProxyContext['options'],
  };
  const rejected = await resolver.resolve('rot://key');
  return { source, clock, context: partial as ProxyContext, rejected };
}

describe('refreshedSecrets', () => {
  it('returns the rotated value when the source has a new one', async () => {
    const { source, context, rejected } = await setup();
    source.value = 'key-v2';
    const fresh = await refreshedSecrets(context, mapping, { primary: rejected });
    expect(fresh?.primary.reveal()).toBe('key-v2');
    expect(fresh?.user).toBeUndefined();
  });

  it('keeps a Basic user name as it was sent: only the password rotates', async () => {
    const { source, context, rejected } = await setup();
    source.value = 'key-v2';
    const user = new Secret('user-1');
    const fresh = await refreshedSecrets(context, mapping, { primary: rejected, user });
    expect(fresh?.primary.reveal()).toBe('key-v2');
    expect(fresh?.user).toBe(user);
  });

  it('passes the refusal on when the source still has the refused value', async () => {
    const { source, context, rejected } = await setup();
    expect(await refreshedSecrets(context, mapping, { primary: rejected })).toBeUndefined();
    expect(source.calls).toBe(2);
  });

  it('asks the source once for concurrent refusals, and all of them get the new value', async () => {
    const { source, context, rejected } = await setup();
    source.value = 'key-v2';
    source.delayMs = 20;
    const all = await Promise.all(
      [1, 2, 3].map(() => refreshedSecrets(context, mapping, { primary: rejected })),
    );
    expect(all.map((s) => s?.primary.reveal())).toEqual(['key-v2', 'key-v2', 'key-v2']);
    expect(source.calls).toBe(2); // the first resolve, and one refresh
  });

  it('asks again at most once per 30 s', async () => {
    const { source, clock, context, rejected } = await setup();
    expect(await refreshedSecrets(context, mapping, { primary: rejected })).toBeUndefined();
    source.value = 'key-v2';
    clock.t += 29_000;
    expect(await refreshedSecrets(context, mapping, { primary: rejected })).toBeUndefined();
    expect(source.calls).toBe(2);
    clock.t += 1_001;
    const fresh = await refreshedSecrets(context, mapping, { primary: rejected });
    expect(fresh?.primary.reveal()).toBe('key-v2');
    expect(source.calls).toBe(3);
  });

  it('resolves to undefined, never rejects, when the source fails', async () => {
    const { source, context, rejected } = await setup();
    source.fail = new SecretSourceError('source down', 'transient');
    await expect(
      refreshedSecrets(context, mapping, { primary: rejected }),
    ).resolves.toBeUndefined();
  });
});
