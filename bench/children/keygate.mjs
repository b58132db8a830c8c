/**
 * The real Keygate engine (dist/), in a process of its own, as `keygate serve` runs it: an
 * `env://` secret, a wildcard mapping `*.bench.test`, and --connect-to routing of every host to
 * the bench upstream on 127.0.0.1. Over IPC it reports event-loop delay, resolver stats, and runs
 * the cold-mapping stampede (a source that holds its answer until the bench says go).
 */
import { Session } from 'node:inspector';
import { PerformanceObserver, constants, monitorEventLoopDelay } from 'node:perf_hooks';
import { Controller } from '../../dist/engine/controller.js';
import { KeygateEngine } from '../../dist/engine/keygate-engine.js';
import { createLogger } from '../../dist/engine/log/logger.js';
import { EnvSecretSource } from '../../dist/engine/secrets/env-source.js';
import { serveRpc } from '../lib/rpc.mjs';

const SECRET = process.env.BENCH_SECRET;
const HOT_REF = 'env://BENCH_KEY';
const COLD_REF = 'env://BENCH_COLD';
const GATE_MAX_MS = 8000;

const inner = new EnvSecretSource({ BENCH_KEY: SECRET, BENCH_COLD: SECRET });
const calls = new Map();
let gate;

/** The env source, counting calls per reference; the cold one can be held back (stampede). */
const countingSource = {
  scheme: 'env',
  validate: (ref) => inner.validate(ref),
  explain: () => inner.explain(),
  async resolve(ref, signal) {
    calls.set(ref, (calls.get(ref) ?? 0) + 1);
    if (ref === COLD_REF && gate) await gate.promise;
    return inner.resolve(ref, signal);
  },
};

const engine = await KeygateEngine.start({
  home: process.env.BENCH_HOME,
  host: '127.0.0.1',
  port: 0,
  connectTo: JSON.parse(process.env.BENCH_CONNECT_TO),
  upstreamCaFiles: [process.env.BENCH_CA],
  sources: [countingSource],
  logger: createLogger({ level: 'warn' }),
});
const controller = new Controller({ store: engine.store, home: engine.paths.home, engine });
await controller.handlers['mappings.upsert']({ host: '*.bench.test', ref: HOT_REF, bearer: true });
await controller.handlers['mappings.upsert']({
  host: '*.stampede.test',
  ref: COLD_REF,
  bearer: true,
});
// The settings change triggers a prefetch; wait (bounded) until the hot secret is cached.
for (let i = 0; i < 200 && !engine.resolver.peek(HOT_REF); i++) {
  await new Promise((resolve) => setTimeout(resolve, 10));
}

let histogram;
/** The longest GC pause since the last eldStart/eldSplit, to tell GC stalls from others. */
let gcMax = { ms: 0, kind: undefined };
const GC_KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.duration > gcMax.ms) {
      gcMax = {
        ms: entry.duration,
        kind: GC_KINDS[entry.detail?.kind] ?? String(entry.detail?.kind),
      };
    }
  }
}).observe({ entryTypes: ['gc'] });
let inspectorSession;
const post = (method, params = {}) =>
  new Promise((resolve, reject) =>
    inspectorSession.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
  );
let before = { ...engine.resolver.stats };

serveRpc({
  eldStart: ({ resolutionMs = 1 }) => {
    histogram?.disable();
    histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    histogram.enable();
    gcMax = { ms: 0, kind: undefined };
  },
  /** The longest delay since the last call (or eldStart), then starts over. */
  eldSplit: () => {
    if (!histogram) return null;
    const result = { maxMs: histogram.max / 1e6, gcMs: gcMax.ms, gcKind: gcMax.kind };
    histogram.reset();
    gcMax = { ms: 0, kind: undefined };
    return result;
  },
  eldStop: () => {
    if (!histogram) return null;
    histogram.disable();
    const ns = (value) => value / 1e6;
    return {
      maxMs: ns(histogram.max),
      p99Ms: ns(histogram.percentile(99)),
      meanMs: ns(histogram.mean),
      gcMs: gcMax.ms,
      gcKind: gcMax.kind,
    };
  },
  stats: () => ({ ...engine.resolver.stats, calls: Object.fromEntries(calls) }),
  stampedeArm: () => {
    engine.resolver.invalidate(COLD_REF);
    calls.set(COLD_REF, 0);
    before = { ...engine.resolver.stats };
    let release;
    const promise = new Promise((resolve) => (release = resolve));
    const timer = setTimeout(() => release(), GATE_MAX_MS);
    gate = {
      promise,
      release: () => {
        clearTimeout(timer);
        release();
      },
    };
  },
  stampedeStatus: () => ({
    waiting: engine.resolver.stats.misses - before.misses,
    sourceCalls: calls.get(COLD_REF) ?? 0,
  }),
  stampedeRelease: () => {
    gate?.release();
    gate = undefined;
    return {
      sourceCalls: calls.get(COLD_REF) ?? 0,
      resolverSourceCalls: engine.resolver.stats.sourceCalls - before.sourceCalls,
      misses: engine.resolver.stats.misses - before.misses,
    };
  },
  /** Sampling heap profiler that keeps collected objects too: where per-request garbage comes from. */
  heapStart: async ({ intervalBytes = 16384 }) => {
    inspectorSession ??= new Session();
    inspectorSession.connect();
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', {
      samplingInterval: intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  },
  heapStop: async () => {
    const { profile } = await post('HeapProfiler.stopSampling');
    await post('HeapProfiler.disable');
    inspectorSession.disconnect();
    return profile;
  },
  shutdown: async () => {
    await engine.stop();
    // Exit after the reply is sent; --cpu-prof writes its profile on a normal exit.
    setTimeout(() => process.exit(0), 50);
  },
});

const agent = engine.store.get().agents.find((a) => a.name === 'default');
process.send({
  type: 'ready',
  port: engine.port,
  token: agent.token,
  agentName: agent.name,
  caPath: engine.paths.caCert,
  hotCached: engine.resolver.peek(HOT_REF) !== undefined,
});
