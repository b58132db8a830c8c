/**
 * The scenarios beyond throughput: new-host cost, SSE delay, a stalled 200 MB download, a 100 MB
 * upload, the cold-mapping stampede, resolver micro-benchmarks and idle memory. Each one is
 * bounded in count and in time.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { CompiledMapping } from '../../dist/engine/rules/compiled-mapping.js';
import { RuleTable } from '../../dist/engine/rules/rule-table.js';
import { SecretScrubber } from '../../dist/engine/proxy/secret-scrubber.js';
import { Secret } from '../../dist/engine/secrets/secret.js';
import { SecretResolver } from '../../dist/engine/secrets/secret-resolver.js';
import { directDispatcher, median, percentile, proxyDispatcher } from './load.mjs';
import { forkChild, readRss, sampleRss, sleep, stopChild, tempDir } from './processes.mjs';
import { BENCH_SECRET } from './upstream-server.mjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHILDREN = fileURLToPath(new URL('../children/', import.meta.url));
const MB = 1024 * 1024;

function stats(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: median(sorted),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Reads from `socket` until the end of an HTTP head; returns the head, leaves the socket paused. */
function readHead(socket, ms) {
  return withTimeout(
    new Promise((resolve, reject) => {
      let text = '';
      const onData = (chunk) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) {
          cleanup();
          resolve(text);
        }
      };
      const onError = (err) => {
        cleanup();
        reject(err);
      };
      const onClose = () => {
        cleanup();
        reject(new Error(`connection closed before a response head (${text.slice(0, 80)})`));
      };
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
        socket.pause();
      };
      socket.on('data', onData);
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.resume();
    }),
    ms,
    'reading a response head',
  );
}

/** CONNECT through Keygate, TLS to its leaf, one request: the three timestamps of a new host. */
async function firstConnect({ proxyPort, proxyAuth, host, ca }) {
  const t0 = performance.now();
  const socket = net.connect({ host: '127.0.0.1', port: proxyPort, noDelay: true });
  let tlsSocket;
  try {
    await withTimeout(
      new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      5000,
      'connecting to the proxy',
    );
    socket.write(
      `CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\nProxy-Authorization: ${proxyAuth}\r\n\r\n`,
    );
    const head = await readHead(socket, 5000);
    if (!/^HTTP\/1\.[01] 200/.test(head))
      throw new Error(`CONNECT answered ${head.split('\r\n')[0]}`);
    const tConnect = performance.now();
    tlsSocket = tls.connect({ socket, servername: host, ca, ALPNProtocols: ['http/1.1'] });
    await withTimeout(
      new Promise((resolve, reject) => {
        tlsSocket.once('secureConnect', resolve);
        tlsSocket.once('error', reject);
      }),
      5000,
      'TLS with the proxy',
    );
    const tTls = performance.now();
    tlsSocket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    const response = await readHead(tlsSocket, 10_000);
    const tResponse = performance.now();
    const status = Number(/^HTTP\/1\.1 (\d+)/.exec(response)?.[1] ?? 0);
    return {
      connectMs: tConnect - t0,
      handshakeMs: tTls - t0,
      firstResponseMs: tResponse - t0,
      status,
      injected: /\r\nx-injected: 1\r\n/i.test(response),
    };
  } finally {
    tlsSocket?.destroy();
    socket.destroy();
  }
}

/**
 * New-host cost: a first CONNECT (+ TLS with Keygate's freshly minted leaf, + first response) to
 * each of `count` never-seen names under the `*.bench.test` wildcard, one after another; then a
 * burst of `count` more, all at once. Keygate's event loop is watched throughout.
 */
export async function newHostCost(env, { count = 50 } = {}) {
  const proxyAuth = `Basic ${Buffer.from(`${env.keygate.info.agentName}:${env.keygate.info.token}`).toString('base64')}`;
  const base = { proxyPort: env.keygate.info.port, proxyAuth, ca: env.keygateCa };
  const nonce = Date.now().toString(36);

  // A reference: the same steps to a host whose leaf and upstream pool are already warm.
  const warm = [];
  for (let i = 0; i < 10; i++) warm.push(await firstConnect({ ...base, host: 'api.bench.test' }));

  await env.keygate.call('eldStart', { resolutionMs: 1 });
  const sequential = [];
  const perHostStallMs = [];
  const perHostGc = [];
  const started = performance.now();
  for (let i = 0; i < count && performance.now() - started < 60_000; i++) {
    sequential.push(await firstConnect({ ...base, host: `n${i}-${nonce}.bench.test` }));
    const split = await env.keygate.call('eldSplit');
    perHostStallMs.push(split.maxMs);
    perHostGc.push({ ms: split.gcMs, kind: split.gcKind });
  }
  const worst = perHostStallMs.indexOf(Math.max(...perHostStallMs));
  await env.keygate.call('eldStop');
  const sequentialLoop = { maxMs: Math.max(...perHostStallMs) };

  await env.keygate.call('eldStart', { resolutionMs: 1 });
  const burstStart = performance.now();
  const burst = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      firstConnect({ ...base, host: `b${i}-${nonce}.bench.test` }).catch((err) => ({
        error: String(err.message),
      })),
    ),
  );
  const burstMs = performance.now() - burstStart;
  const burstLoop = await env.keygate.call('eldStop');

  const failures = [...sequential, ...burst].filter((r) => r.error || r.status !== 200);
  return {
    hosts: sequential.length,
    handshakeMs: stats(sequential.map((r) => r.handshakeMs)),
    connectOnlyMs: stats(sequential.map((r) => r.connectMs)),
    firstResponseMs: stats(sequential.map((r) => r.firstResponseMs)),
    warmHandshakeMs: stats(warm.map((r) => r.handshakeMs)),
    warmFirstResponseMs: stats(warm.map((r) => r.firstResponseMs)),
    maxStallMs: sequentialLoop.maxMs,
    // The stall during each host in turn: shows whether it is the first mints (cold JIT) or all.
    perHostStallMs,
    perHostGc,
    worstStall: { host: worst, stallMs: perHostStallMs[worst], gc: perHostGc[worst] },
    stallFirst5Ms: perHostStallMs.slice(0, 5),
    stallLast10Median: median(perHostStallMs.slice(-10)),
    hostsOver10ms: perHostStallMs.filter((ms) => ms > 10).length,
    handshakeFirst5Ms: sequential.slice(0, 5).map((r) => r.handshakeMs),
    handshakeLast10Median: median(sequential.slice(-10).map((r) => r.handshakeMs)),
    burst: {
      hosts: burst.length,
      totalMs: burstMs,
      handshakeMs: stats(burst.map((r) => r.handshakeMs)),
      maxStallMs: burstLoop?.maxMs,
    },
    allInjected: sequential.every((r) => r.injected),
    failures: failures.length,
  };
}

/** SSE: the upstream (in this process) timestamps each write; the client times each arrival. */
async function sseDelays(dispatcher, origin, writes, { chunks, gapMs }) {
  writes.clear();
  const delays = [];
  const response = await dispatcher.request({
    origin,
    path: `/sse?n=${chunks}&gap=${gapMs}`,
    method: 'GET',
  });
  let buffered = '';
  const deadline = performance.now() + chunks * gapMs + 10_000;
  for await (const chunk of response.body) {
    const arrived = performance.now();
    buffered += chunk.toString('utf8');
    let end;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const seq = Number(/^id: (\d+)$/m.exec(event)?.[1]);
      const written = writes.get(seq);
      if (written !== undefined) delays.push(arrived - written);
    }
    if (arrived > deadline) break;
  }
  return stats(delays);
}

export async function sseScenario(env, { chunks = 40, gapMs = 50 } = {}) {
  const direct = directDispatcher(env.pki.caPem);
  const viaKeygate = proxyDispatcher(env.keygateUrl, env.keygateCa);
  try {
    const directStats = await sseDelays(
      direct,
      `https://127.0.0.1:${env.sse.port}`,
      env.sseWrites,
      {
        chunks,
        gapMs,
      },
    );
    const keygateStats = await sseDelays(viaKeygate, 'https://sse.bench.test', env.sseWrites, {
      chunks,
      gapMs,
    });
    return { chunks, gapMs, direct: directStats, keygate: keygateStats };
  } finally {
    await Promise.allSettled([direct.destroy(), viaKeygate.destroy()]);
  }
}

/**
 * A `bytes` download through a proxy, to a client that reads the first chunk and then stops
 * reading for `stallMs`; the proxy process's RSS is sampled throughout.
 */
export async function stalledDownload(proxy, { bytes = 200 * MB, stallMs = 5000 } = {}) {
  const dispatcher = proxy.makeDispatcher({ bodyTimeout: 120_000, headersTimeout: 30_000 });
  try {
    await proxy.gc?.();
    await sleep(300);
    const sampler = sampleRss(proxy.pid);
    const started = performance.now();
    const response = await dispatcher.request({
      origin: proxy.origin,
      path: `/big?bytes=${bytes}`,
      method: 'GET',
    });
    const iterator = response.body[Symbol.asyncIterator]();
    const first = await iterator.next();
    let received = first.value?.length ?? 0;
    await sleep(stallMs);
    const duringStall = readRss(proxy.pid);
    const deadline = performance.now() + 120_000;
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      received += next.value.length;
      if (performance.now() > deadline) throw new Error('download did not finish within 120 s');
    }
    const seconds = (performance.now() - started) / 1000;
    const memory = sampler.stop();
    return {
      bytes,
      received,
      complete: received === bytes,
      seconds,
      stallMs,
      baselineRss: memory.baseline,
      rssAfterStall: duringStall,
      stallGrowth: duringStall - memory.baseline,
      peakRss: memory.peak,
      growth: memory.growth,
    };
  } finally {
    await dispatcher.destroy();
  }
}

async function* uploadBody(bytes) {
  const block = Buffer.alloc(64 * 1024, 98);
  let left = bytes;
  while (left > 0) {
    const n = Math.min(left, block.length);
    left -= n;
    yield n === block.length ? block : block.subarray(0, n);
  }
}

/** A `bytes` upload; the upstream counts what arrives. RSS of `pid` (if any) is sampled. */
export async function upload({ dispatcher, origin, pid, gc }, { bytes = 100 * MB } = {}) {
  await gc?.();
  await sleep(200);
  const sampler = pid ? sampleRss(pid) : undefined;
  const started = performance.now();
  const response = await dispatcher.request({
    origin,
    path: '/upload',
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes) },
    body: Readable.from(uploadBody(bytes), { objectMode: false }),
  });
  const answer = await response.body.json();
  const seconds = (performance.now() - started) / 1000;
  const memory = sampler?.stop();
  return {
    bytes,
    received: answer.bytes,
    complete: answer.bytes === bytes,
    seconds,
    mbPerSecond: bytes / MB / seconds,
    ...(memory
      ? { baselineRss: memory.baseline, peakRss: memory.peak, growth: memory.growth }
      : {}),
  };
}

/**
 * The cold-mapping stampede, end to end. First `count` keep-alive tunnels to the mapped host are
 * opened (secret cached), so connection setup is not part of it. Then the cached secret is dropped
 * and the source told to hold its answer, and `count` requests go out at once, one per tunnel.
 * When all of them wait on the resolver (or after a bound), the source answers, once.
 */
export async function stampede(env, { count = 1000 } = {}) {
  const dispatcher = proxyDispatcher(env.keygateUrl, env.keygateCa, {
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const one = () =>
    dispatcher
      .request({ origin: 'https://cold.stampede.test', path: '/', method: 'GET' })
      .then(async (response) => {
        await response.body.dump();
        return { status: response.statusCode, injected: response.headers['x-injected'] === '1' };
      })
      .catch((err) => ({ status: 0, error: String(err.message) }));
  const fire = () => Promise.all(Array.from({ length: count }, one));
  try {
    const warmStarted = performance.now();
    const warm = await withTimeout(fire(), 40_000, 'opening the tunnels');
    const tunnelsMs = performance.now() - warmStarted;

    await env.keygate.call('stampedeArm');
    const started = performance.now();
    const requests = fire();
    let waiting = 0;
    const waitDeadline = performance.now() + 7000;
    while (performance.now() < waitDeadline) {
      ({ waiting } = await env.keygate.call('stampedeStatus'));
      if (waiting >= count) break;
      await sleep(10);
    }
    const heldMs = performance.now() - started;
    const released = await env.keygate.call('stampedeRelease');
    const results = await withTimeout(requests, 60_000, 'the stampede');
    const totalMs = performance.now() - started;
    return {
      requests: count,
      tunnelsOpened: warm.filter((r) => r.status === 200).length,
      tunnelsMs,
      concurrentAtRelease: waiting,
      heldMs,
      totalMs,
      ok: results.filter((r) => r.status === 200).length,
      injected: results.filter((r) => r.injected).length,
      sourceCalls: released.sourceCalls,
      resolverSourceCalls: released.resolverSourceCalls,
      firstError: results.find((r) => r.error)?.error ?? warm.find((r) => r.error)?.error,
    };
  } finally {
    await dispatcher.destroy();
  }
}

/** The resolver alone: a 1,000-way stampede on a slow source, and the cost of a cached lookup. */
export async function resolverMicro({ stampedeCount = 1000, iterations = 1_000_000 } = {}) {
  let calls = 0;
  const source = {
    scheme: 'env',
    validate: () => ({ ok: true }),
    explain: () => 'bench',
    resolve: async () => {
      calls += 1;
      await sleep(20);
      return new Secret(BENCH_SECRET);
    },
  };
  const resolver = new SecretResolver({ sources: [source] });
  const ref = 'env://BENCH_KEY';
  const all = await Promise.all(Array.from({ length: stampedeCount }, () => resolver.resolve(ref)));
  const stampedeCalls = calls;

  const timeLoop = (n, body) => {
    const t0 = process.hrtime.bigint();
    body(n);
    return Number(process.hrtime.bigint() - t0) / n;
  };
  let sink = 0;
  const peekRuns = [];
  for (let run = 0; run < 5; run++) {
    peekRuns.push(
      timeLoop(iterations, (n) => {
        for (let i = 0; i < n; i++) sink += resolver.peek(ref) === undefined ? 0 : 1;
      }),
    );
  }

  // What Keygate does per intercepted request before forwarding: match, peek, inject.
  const mapping = { host: '*.bench.test', ref, injector: { type: 'bearer' } };
  const table = new RuleTable([mapping]);
  const compiled = new CompiledMapping(mapping);
  const perRequest = [];
  for (let run = 0; run < 5; run++) {
    perRequest.push(
      timeLoop(iterations / 5, (n) => {
        for (let i = 0; i < n; i++) {
          const match = table.match('api.bench.test', 443, '/v1/chat');
          const secret = resolver.peek(ref);
          const target = { headers: { host: 'api.bench.test', accept: '*/*' }, path: '/v1/chat' };
          (match ?? compiled).injector.apply(target, { primary: secret });
          sink += target.headers.authorization.length;
        }
      }),
    );
  }
  // Response scrubbing (issue 5): the per-response cost for a small JSON answer, and throughput
  // on a 1 MB body in 16 KB chunks, none of which contain the secret (the common case).
  const scrubber = new SecretScrubber(
    [BENCH_SECRET, encodeURIComponent(BENCH_SECRET)],
    'keygate-placeholder',
  );
  const small = Buffer.from(
    '{"id":"chatcmpl-1","object":"chat.completion","choices":[{"message":{"content":"hi"}}]}',
  );
  const scrubSmall = [];
  for (let run = 0; run < 5; run++) {
    scrubSmall.push(
      timeLoop(iterations / 5, (n) => {
        for (let i = 0; i < n; i++) sink += scrubber.scrub(small).length - scrubber.heldBack(small);
      }),
    );
  }
  const chunk = Buffer.alloc(16 * 1024, 'a');
  const chunks = 64;
  const scrubMbps = [];
  for (let run = 0; run < 5; run++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < chunks * 20; i++)
      sink += scrubber.scrub(chunk).length - scrubber.heldBack(chunk);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    scrubMbps.push((chunk.length * chunks * 20) / 1e6 / seconds);
  }
  return {
    stampede: { requests: stampedeCount, sourceCalls: stampedeCalls, allResolved: all.length },
    peekNs: median(peekRuns),
    matchPeekInjectNs: median(perRequest),
    scrubSmallNs: median(scrubSmall),
    scrubMBps: median(scrubMbps),
    sink: sink > 0,
  };
}

/** Idle RSS of a real `keygate serve` (the CLI), after it has settled. */
export async function serveIdleRss({ settleMs = 2000 } = {}) {
  const home = tempDir('keygate-bench-serve-');
  mkdirSync(join(home, 'h'));
  const child = spawn(
    process.execPath,
    [join(REPO, 'dist/cli/keygate.js'), '--home', join(home, 'h'), 'serve', '--port', '0'],
    { env: { ...process.env, KEYGATE_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    let output = '';
    await withTimeout(
      new Promise((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk) => {
          output += chunk;
          if (/keygate listening on/.test(output)) resolve();
        });
        child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
        child.once('exit', (code) => reject(new Error(`keygate serve exited ${code}: ${output}`)));
      }),
      20_000,
      'keygate serve start',
    );
    await sleep(settleMs);
    return { rss: readRss(child.pid) };
  } finally {
    await stopChild(child, 'SIGTERM');
  }
}

/** RSS of an engine before and after the 1Password SDK loads (Keygate's own lazy loader). */
export async function sdkRss() {
  const home = tempDir('keygate-bench-sdk-');
  const child = await forkChild(join(CHILDREN, 'sdk-rss.mjs'), {
    name: 'sdk rss',
    env: { BENCH_HOME: home },
    readyTimeoutMs: 60_000,
  });
  await child.stop();
  const { before, after, loadMs, loadedBefore, loadedAfter, malformedMs } = child.info;
  return {
    before,
    after,
    growth: after - before,
    loadMs,
    loadedBefore,
    loadedAfter,
    malformedTokenMs: stats(malformedMs),
  };
}
