#!/usr/bin/env node
/**
 * Soak: many requests through one `keygate serve`, to show it neither fails nor grows.
 *
 *   npm run soak                      200,000 requests, 50 at a time, at most ~10 minutes
 *   SOAK_REQUESTS=20000 node bench/soak.mjs
 *
 * The mix, by request number: 85 % small intercepted requests on keep-alive connections, 5 %
 * small intercepted requests on a new connection each (CONNECT, TLS termination, leaf cache),
 * 5 % SSE streams (5 events each) and 5 % tunneled requests to an unmapped host on a new tunnel
 * each. Everything goes to a local HTTPS upstream (bench/lib/upstream-server.mjs); intercepted
 * requests must arrive injected, tunneled ones untouched.
 *
 * Reports errors (target 0) and the RSS drift of the keygate process: VmRSS sampled every
 * second; drift = median of the last minute vs median of the minute after warm-up (a minute
 * each on the full run; shorter runs use a quarter of the run for each window and a fifth for
 * warm-up). Exit 0 when both targets are met, 1 otherwise. Not part of CI.
 *
 * Environment: SOAK_REQUESTS (200000), SOAK_CONCURRENCY (50), SOAK_SECONDS (600),
 * SOAK_DRIFT_TARGET (0.10), KEYGATE_SOAK_LOG (keygate's log level, default warn).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ProxyAgent, request } from 'undici';
import { Controller } from '../dist/engine/controller.js';
import { SettingsStore } from '../dist/engine/settings/settings-store.js';
import { createBenchPki } from './lib/pki.mjs';
import {
  installCleanupHandlers,
  readRss,
  spawnTracked,
  stopChild,
  tempDir,
} from './lib/processes.mjs';
import { BENCH_SECRET, startUpstream } from './lib/upstream-server.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEYGATE_BIN = join(ROOT, 'dist', 'cli', 'keygate.js');

function positiveNumber(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`soak: ${name}=${raw} is not a positive number`);
    process.exit(2);
  }
  return value;
}

const TOTAL = Math.floor(positiveNumber('SOAK_REQUESTS', 200_000));
const CONCURRENCY = Math.floor(positiveNumber('SOAK_CONCURRENCY', 50));
const SECONDS = positiveNumber('SOAK_SECONDS', 600);
const DRIFT_TARGET = positiveNumber('SOAK_DRIFT_TARGET', 0.1);
const MAPPED = 'api.bench.test';
const UNMAPPED = 'tunnel.bench.test';
const SSE_EVENTS = 5;

/** Which kind request number `i` is: a fixed, interleaved mix. */
function kindOf(i) {
  switch (i % 20) {
    case 0:
      return 'sse';
    case 1:
      return 'tunneled';
    case 2:
      return 'new-connection';
    default:
      return 'small';
  }
}

function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Starts `keygate serve` and resolves with its port once it prints its one stdout line. */
async function startKeygate(home, upstreamPort, caPath) {
  const tracked = spawnTracked(
    process.execPath,
    [
      KEYGATE_BIN,
      '--home',
      home,
      'serve',
      '--port',
      '0',
      '--upstream-ca',
      caPath,
      '--connect-to',
      `${MAPPED}:443:127.0.0.1:${upstreamPort}`,
      '--connect-to',
      `${UNMAPPED}:443:127.0.0.1:${upstreamPort}`,
    ],
    {
      env: {
        ...process.env,
        SOAK_KEY: BENCH_SECRET,
        KEYGATE_LOG: process.env.KEYGATE_SOAK_LOG ?? 'warn',
      },
    },
  );
  const port = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () => reject(new Error(`keygate serve did not start:\n${tracked.output()}`)),
      30_000,
    );
    tracked.child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = /keygate listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    tracked.child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`keygate serve exited ${code}:\n${tracked.output()}`));
    });
  });
  return { ...tracked, port };
}

async function main() {
  installCleanupHandlers();
  const dir = tempDir('keygate-soak-');
  const home = join(dir, 'home');
  const pki = await createBenchPki(dir);
  const upstream = await startUpstream({ certPem: pki.certPem, keyPem: pki.keyPem });

  // The mapping, written as `keygate map add` would (in-process: no CLI start-up to wait for).
  const store = SettingsStore.open(home);
  await new Controller({ store, home }).handlers['mappings.upsert']({
    host: MAPPED,
    ref: 'env://SOAK_KEY',
  });
  store.close();

  const keygate = await startKeygate(home, upstream.port, pki.caPath);
  const pid = keygate.child.pid;
  const token = JSON.parse(readFileSync(join(home, 'settings.json'), 'utf8')).agents[0].token;
  const proxyUrl = `http://default:${encodeURIComponent(token)}@127.0.0.1:${keygate.port}`;
  const keygateCa = readFileSync(join(home, 'ca', 'ca.pem'), 'utf8');

  // Intercepted hosts are verified against Keygate's CA; the tunneled one shows its own.
  const intercepted = new ProxyAgent({
    uri: proxyUrl,
    requestTls: { ca: keygateCa },
    connections: CONCURRENCY,
  });
  const tunneled = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: pki.caPem } });
  const options = { headersTimeout: 30_000, bodyTimeout: 30_000 };

  const errors = new Map();
  const fail = (kind, reason) => {
    const key = `${kind}: ${reason}`.slice(0, 160);
    errors.set(key, (errors.get(key) ?? 0) + 1);
  };
  const counts = { small: 0, 'new-connection': 0, sse: 0, tunneled: 0 };
  const latencies = [];

  async function one(i) {
    const kind = kindOf(i);
    const started = performance.now();
    try {
      if (kind === 'sse') {
        const res = await request(`https://${MAPPED}/sse?n=${SSE_EVENTS}&gap=5&i=${i}`, {
          dispatcher: intercepted,
          headers: { authorization: 'Bearer keygate-placeholder' },
          ...options,
        });
        const text = await res.body.text();
        const events = text.split('\n\n').filter(Boolean).length;
        if (res.statusCode !== 200) fail(kind, `status ${res.statusCode}`);
        else if (events !== SSE_EVENTS) fail(kind, `${events} of ${SSE_EVENTS} events`);
      } else {
        const host = kind === 'tunneled' ? UNMAPPED : MAPPED;
        const res = await request(`https://${host}/?i=${i}`, {
          dispatcher: kind === 'tunneled' ? tunneled : intercepted,
          headers: { authorization: 'Bearer keygate-placeholder' },
          // A new connection (a new CONNECT) for every request of these kinds.
          reset: kind !== 'small',
          ...options,
        });
        await res.body.text();
        const injected = res.headers['x-injected'];
        if (res.statusCode !== 200) fail(kind, `status ${res.statusCode}`);
        else if (injected !== (kind === 'tunneled' ? '0' : '1'))
          fail(kind, kind === 'tunneled' ? 'tunneled request was altered' : 'not injected');
      }
    } catch (err) {
      fail(kind, `${err.code ?? err.name}: ${err.message}`);
    }
    counts[kind] += 1;
    latencies.push(performance.now() - started);
  }

  // RSS of the keygate process, every second.
  const rss = [];
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const value = readRss(pid);
    if (Number.isFinite(value)) rss.push({ t: (performance.now() - t0) / 1000, value });
  }, 1000);
  const deadline = t0 + SECONDS * 1000;
  let next = 0;
  let lastReport = t0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < TOTAL && performance.now() < deadline) {
        await one(next++);
        const now = performance.now();
        if (now - lastReport > 10_000) {
          lastReport = now;
          const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
          const last = rss.at(-1);
          console.error(
            `soak: ${next} requests, ${errorCount} errors, ${Math.round((now - t0) / 1000)} s, rss ${last ? mb(last.value) : '?'}`,
          );
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const ran = Object.values(counts).reduce((a, b) => a + b, 0);

  // Drift windows: a minute each on the full run, scaled down on short ones.
  const window = Math.min(60, elapsed / 4);
  const warmup = Math.min(60, elapsed / 5);
  const baseline = rss.filter((s) => s.t >= warmup && s.t < warmup + window).map((s) => s.value);
  const final = rss.filter((s) => s.t >= elapsed - window).map((s) => s.value);
  const baselineMedian = median(baseline);
  const finalMedian = median(final);
  const drift = (finalMedian - baselineMedian) / baselineMedian;
  const peak = Math.max(...rss.map((s) => s.value));
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  const sorted = latencies.sort((a, b) => a - b);
  const alive = keygate.child.exitCode === null && keygate.child.signalCode === null;

  await intercepted.close();
  await tunneled.close();
  await stopChild(keygate.child);
  await upstream.close();

  const stoppedEarly = ran < TOTAL;
  const rows = [
    ['requests', `${ran} of ${TOTAL}${stoppedEarly ? ` (stopped at the ${SECONDS} s bound)` : ''}`],
    ['  small, keep-alive', String(counts.small)],
    ['  small, new connection', String(counts['new-connection'])],
    ['  SSE (5 events)', String(counts.sse)],
    ['  tunneled, new tunnel', String(counts.tunneled)],
    ['concurrency', String(CONCURRENCY)],
    ['duration', `${elapsed.toFixed(1)} s (${Math.round(ran / elapsed)} req/s)`],
    [
      'latency p50 / p99',
      `${percentile(sorted, 50).toFixed(1)} / ${percentile(sorted, 99).toFixed(1)} ms`,
    ],
    ['errors (target 0)', String(errorCount)],
    [
      `RSS after warm-up (median ${warmup.toFixed(0)}-${(warmup + window).toFixed(0)} s)`,
      mb(baselineMedian),
    ],
    [`RSS at the end (median, last ${window.toFixed(0)} s)`, mb(finalMedian)],
    ['RSS peak', mb(peak)],
    [`RSS drift (target ≤ ${(DRIFT_TARGET * 100).toFixed(0)} %)`, `${(drift * 100).toFixed(1)} %`],
    ['keygate still running at the end', alive ? 'yes' : 'NO'],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  console.log('\nKeygate soak');
  for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
  if (errors.size > 0) {
    console.log('\nerrors by kind:');
    for (const [reason, n] of [...errors].sort((a, b) => b[1] - a[1]).slice(0, 20))
      console.log(`  ${String(n).padStart(7)}  ${reason}`);
  }
  const pass = errorCount === 0 && alive && Number.isFinite(drift) && drift <= DRIFT_TARGET;
  console.log(
    `\n${pass ? 'PASS' : 'FAIL'}: errors ${errorCount} (target 0), RSS drift ${(drift * 100).toFixed(1)} % (target ≤ ${(DRIFT_TARGET * 100).toFixed(0)} %)`,
  );
  return pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error('soak failed:', err);
    process.exit(1);
  },
);
