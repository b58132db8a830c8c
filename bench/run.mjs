#!/usr/bin/env node
/**
 * `npm run bench`: Keygate side by side with direct, bare http-mitm-proxy, mitmproxy and a raw
 * CONNECT pipe, against one local HTTPS upstream, in one run, interleaved. See docs/performance.md.
 *
 *   node bench/run.mjs                 full run (about 3.5 minutes on 2 cores, bounded at 295 s)
 *   node bench/run.mjs --quick         a short smoke run (numbers are not meaningful)
 *   node bench/run.mjs --rounds 5 --seconds 2
 *   node bench/run.mjs --profile       CPU-profile the Keygate process under intercept load
 *
 * Every socket is on 127.0.0.1. Every loop is bounded in count and in time. Children and temp
 * dirs are removed on exit, on Ctrl-C and on errors.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { probe, runCell } from './lib/load.mjs';
import {
  heapMarkdown,
  profileMarkdown,
  summarizeHeapProfile,
  summarizeProfile,
} from './lib/profile.mjs';
import { cleanupAll, installCleanupHandlers, tempDir } from './lib/processes.mjs';
import { judge, markdown, summarize, svgChart } from './lib/report.mjs';
import {
  newHostCost,
  resolverMicro,
  sdkRss,
  serveIdleRss,
  sseScenario,
  stalledDownload,
  stampede,
  upload,
} from './lib/scenarios.mjs';
import { loudWarning, mitmdumpVersion, startEnvironment } from './lib/setup.mjs';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const DIST_ENGINE = fileURLToPath(new URL('../dist/engine/keygate-engine.js', import.meta.url));
const HARD_LIMIT_MS = 295_000;
const CONCURRENCIES = [1, 10];

function parseArgs(argv) {
  const args = {
    rounds: 8,
    seconds: 1,
    warmupSeconds: 0.25,
    quick: false,
    profile: false,
    mitmproxy: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${arg} needs a positive number`);
      return v;
    };
    if (arg === '--rounds') args.rounds = Math.min(20, Math.floor(value()));
    else if (arg === '--seconds') args.seconds = Math.min(10, value());
    else if (arg === '--quick') args.quick = true;
    else if (arg === '--profile') args.profile = true;
    else if (arg === '--no-mitmproxy') args.mitmproxy = false;
    else if (arg === '--help' || arg === '-h') {
      console.log(
        'usage: node bench/run.mjs [--quick] [--rounds N] [--seconds S] [--no-mitmproxy] [--profile]',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${arg}`);
  }
  if (args.quick) Object.assign(args, { rounds: 2, seconds: 0.5, warmupSeconds: 0.1 });
  return args;
}

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const cpu =
    /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  return {
    cpu,
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.versions.node,
    kernel: `${os.type()} ${os.release()}`,
    mitmproxy: mitmdumpVersion(),
  };
}

const log = (message) => process.stderr.write(`bench: ${message}\n`);

/** Scenarios that would start after this point are skipped, so the run stays under its bound. */
const SCENARIO_CUTOFF_MS = 235_000;
const processStarted = performance.now();

async function scenario(name, errors, fn) {
  const started = performance.now();
  if (started - processStarted > SCENARIO_CUTOFF_MS) {
    loudWarning([`${name}: skipped, the run is past its ${SCENARIO_CUTOFF_MS / 1000} s budget`]);
    errors[name] = 'skipped: the run reached its time budget';
    return undefined;
  }
  log(`${name}…`);
  try {
    const result = await fn();
    log(`${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return result;
  } catch (err) {
    log(`${name} FAILED: ${err.stack ?? err}`);
    errors[name] = String(err.message ?? err);
    return undefined;
  }
}

async function benchmark(args) {
  const runStarted = performance.now();
  const meta = {
    date: new Date().toISOString(),
    machine: machine(),
    // Other work on the machine skews everything; the load average is kept with the results.
    loadavg: { start: os.loadavg().map((v) => Number(v.toFixed(2))) },
    config: {
      rounds: args.rounds,
      cellMs: args.seconds * 1000,
      warmupMs: args.warmupSeconds * 1000,
      concurrencies: CONCURRENCIES,
      body: '2-byte JSON ({}), HTTP/1.1 over TLS, keep-alive',
      client: 'undici Agent / ProxyAgent, in the bench process',
    },
  };
  log(`starting upstream, Keygate, http-mitm-proxy, raw pipe${args.mitmproxy ? ', mitmdump' : ''}`);
  const env = await startEnvironment({ withMitmproxy: args.mitmproxy });
  try {
    // Smoke: every path answers 200, and the injecting ones really inject. A broken path is
    // reported and dropped rather than sinking the whole run.
    const paths = [];
    for (const path of env.paths) {
      try {
        const result = await probe(path);
        if (result.status !== 200) throw new Error(`HTTP ${result.status}`);
        if (path.expectInjected && !result.injected) throw new Error('credential not injected');
        paths.push(path);
      } catch (err) {
        loudWarning([`${path.label} does not work and is left out: ${err.message}`]);
      }
    }
    if (!paths.some((p) => p.id === 'direct') || !paths.some((p) => p.id === 'keygate')) {
      throw new Error('direct or Keygate does not work; nothing to compare');
    }

    log('warming up every path (1 s each at 10 clients)');
    for (const path of paths) {
      await runCell(path, { concurrency: 10, durationMs: args.quick ? 200 : 1000, warmupMs: 0 });
    }

    const rounds = [];
    const cellOptions = { durationMs: args.seconds * 1000, warmupMs: args.warmupSeconds * 1000 };
    for (let r = 0; r < args.rounds; r++) {
      const round = {};
      for (const concurrency of CONCURRENCIES) {
        round[concurrency] = {};
        // Rotate the order each round, so no path always runs first (or right after another).
        const order = paths.map((_, i) => paths[(i + r) % paths.length]);
        for (const path of order) {
          round[concurrency][path.id] = await runCell(path, { ...cellOptions, concurrency });
        }
        const line = paths
          .map((p) => `${p.id} ${Math.round(round[concurrency][p.id].rps)}`)
          .join(', ');
        log(`round ${r + 1}/${args.rounds}, ${concurrency} client(s): ${line} req/s`);
      }
      rounds.push(round);
    }

    const errors = {};
    const scenarios = { errors };
    const quick = args.quick;
    scenarios.newHost = await scenario('new-host cost', errors, () =>
      newHostCost(env, { count: quick ? 10 : 50 }),
    );
    scenarios.sse = await scenario('SSE forwarding delay', errors, () =>
      sseScenario(env, { chunks: quick ? 10 : 40, gapMs: 50 }),
    );
    const bigBytes = (quick ? 20 : 200) * 1024 * 1024;
    const stallMs = quick ? 1000 : 5000;
    scenarios.stalledDownload = {};
    const kgPath = paths.find((p) => p.id === 'keygate');
    const downloaders = [
      {
        id: 'keygate',
        pid: env.keygate.pid,
        origin: kgPath.origin,
        makeDispatcher: (extra) =>
          new kgPath.dispatcher.constructor({
            uri: env.keygateUrl,
            requestTls: { ca: env.keygateCa },
            ...extra,
          }),
        gc: () => env.keygate.call('gc'),
      },
    ];
    const mitmPath = paths.find((p) => p.id === 'mitm');
    if (mitmPath) {
      downloaders.push({
        id: 'bare http-mitm-proxy',
        pid: env.mitm.pid,
        origin: mitmPath.origin,
        makeDispatcher: (extra) =>
          new mitmPath.dispatcher.constructor({
            uri: `http://127.0.0.1:${env.mitm.info.port}`,
            requestTls: { ca: readFileSync(env.mitm.info.caPath, 'utf8') },
            ...extra,
          }),
        gc: () => env.mitm.call('gc'),
      });
    }
    for (const d of downloaders) {
      scenarios.stalledDownload[d.id] = (await scenario(
        `stalled ${bigBytes / 2 ** 20} MB download via ${d.id}`,
        errors,
        () => stalledDownload(d, { bytes: bigBytes, stallMs }),
      )) ?? { error: errors[`stalled ${bigBytes / 2 ** 20} MB download via ${d.id}`] };
    }
    const uploadBytes = (quick ? 10 : 100) * 1024 * 1024;
    scenarios.upload = {};
    const directPath = paths.find((p) => p.id === 'direct');
    scenarios.upload.direct = await scenario('upload direct', errors, () =>
      upload(
        { dispatcher: directPath.dispatcher, origin: directPath.origin },
        { bytes: uploadBytes },
      ),
    );
    scenarios.upload.keygate = await scenario('upload via Keygate', errors, () =>
      upload(
        {
          dispatcher: kgPath.dispatcher,
          origin: kgPath.origin,
          pid: env.keygate.pid,
          gc: () => env.keygate.call('gc'),
        },
        { bytes: uploadBytes },
      ),
    );
    scenarios.resolver = await scenario('resolver micro-benchmarks', errors, () =>
      resolverMicro({ stampedeCount: 1000, iterations: quick ? 100_000 : 1_000_000 }),
    );
    scenarios.memory = {};
    scenarios.memory.serve = await scenario('idle RSS of keygate serve', errors, () =>
      serveIdleRss({ settleMs: quick ? 500 : 2000 }),
    );
    scenarios.memory.sdk = await scenario('RSS with the 1Password SDK', errors, () => sdkRss());
    // Last: opening 1,000 tunnels is the slowest step on a busy machine.
    scenarios.stampede = await scenario('cold-mapping stampede', errors, () =>
      stampede(env, { count: quick ? 100 : 1000 }),
    );

    const summary = summarize(paths, rounds, CONCURRENCIES);
    const targets = judge(summary, scenarios, CONCURRENCIES);
    meta.durationSeconds = (performance.now() - runStarted) / 1000;
    meta.loadavg.end = os.loadavg().map((v) => Number(v.toFixed(2)));
    const report = { meta, paths, summary, concurrencies: CONCURRENCIES, targets, scenarios };
    const text = markdown(report);
    console.log(text);
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(
      join(RESULTS, 'latest.json'),
      JSON.stringify(
        {
          meta,
          paths: paths.map(({ id, label, origin, expectInjected }) => ({
            id,
            label,
            origin,
            expectInjected,
          })),
          summary: summary.byPath,
          interference: summary.interference,
          rounds,
          targets,
          scenarios,
          markdown: text,
        },
        null,
        2,
      ) + '\n',
    );
    writeFileSync(join(RESULTS, 'latest.svg'), svgChart(report));
    log(
      `wrote bench/results/latest.json and bench/results/latest.svg (${meta.durationSeconds.toFixed(0)} s in all)`,
    );
    const misses = targets.filter((t) => t.result === 'MISS');
    if (misses.length)
      log(`${misses.length} target(s) missed: ${misses.map((t) => t.figure).join('; ')}`);
  } finally {
    await env.close();
  }
}

/** Starts a fresh environment with Keygate under --cpu-prof, runs `workload`, returns the summary. */
async function profiled(name, workload) {
  const dir = tempDir('keygate-bench-prof-');
  const env = await startEnvironment({
    withMitmproxy: false,
    only: [],
    keygateExecArgv: ['--cpu-prof', '--cpu-prof-dir', dir],
  });
  let result;
  try {
    result = await workload(env);
    await Promise.allSettled(env.paths.map((p) => p.dispatcher.destroy()));
    await env.keygate.call('shutdown', {}, 10_000).catch(() => undefined);
    await new Promise((resolve) => {
      if (env.keygate.child.exitCode !== null) resolve();
      else env.keygate.child.once('exit', resolve);
      setTimeout(resolve, 10_000).unref();
    });
  } finally {
    await env.close();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`${name}: no .cpuprofile was written`);
  return { name, result, summary: summarizeProfile(join(dir, file)) };
}

/** CPU-profiles the Keygate process under intercept load, and during 50 new hosts. */
async function profile(args) {
  const seconds = args.quick ? 2 : 8;
  const runs = [];
  log(`profiling Keygate under ${seconds} s of intercept load at 10 clients`);
  runs.push(
    await profiled('intercept load, 10 clients', async (env) => {
      const kg = env.paths.find((p) => p.id === 'keygate');
      await runCell(kg, { concurrency: 10, durationMs: 1000, warmupMs: 0 });
      const cell = await runCell(kg, { concurrency: 10, durationMs: seconds * 1000, warmupMs: 0 });
      return `${Math.round(cell.rps)} req/s while profiled (the profiler slows it down)`;
    }),
  );
  log('profiling Keygate during first CONNECTs to 50 new hosts');
  runs.push(
    await profiled('first CONNECT to 50 new hosts', async (env) => {
      const nh = await newHostCost(env, { count: 50 });
      return `CONNECT+TLS median ${nh.handshakeMs.median.toFixed(2)} ms, stall ${nh.maxStallMs.toFixed(1)} ms while profiled`;
    }),
  );
  log('sampling allocations in Keygate under intercept load at 10 clients');
  const heap = await (async () => {
    const env = await startEnvironment({ withMitmproxy: false, only: [] });
    try {
      const kg = env.paths.find((p) => p.id === 'keygate');
      await runCell(kg, { concurrency: 10, durationMs: 1000, warmupMs: 0 });
      await env.keygate.call('heapStart', { intervalBytes: 4096 });
      const cell = await runCell(kg, { concurrency: 10, durationMs: seconds * 500, warmupMs: 0 });
      const heapProfile = await env.keygate.call('heapStop', {}, 60_000);
      return summarizeHeapProfile(heapProfile, { requests: cell.count });
    } finally {
      await env.close();
    }
  })();
  for (const run of runs) {
    console.log(`\n### ${run.name}: ${run.result}\n`);
    console.log(profileMarkdown(run.summary));
  }
  console.log('\n### allocations under intercept load, 10 clients\n');
  console.log(heapMarkdown(heap));
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(
    join(RESULTS, 'profile.json'),
    JSON.stringify({ date: new Date().toISOString(), runs, heap }, null, 2) + '\n',
  );
  log('wrote bench/results/profile.json');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(DIST_ENGINE)) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench does it for you)');
  }
  installCleanupHandlers();
  const watchdog = setTimeout(() => {
    loudWarning([`the bench exceeded its ${HARD_LIMIT_MS / 1000} s bound: stopping everything`]);
    cleanupAll();
    process.exit(2);
  }, HARD_LIMIT_MS);
  watchdog.unref();
  if (args.profile) await profile(args);
  else await benchmark(args);
  cleanupAll();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench: ${err.stack ?? err}`);
    cleanupAll();
    process.exit(1);
  },
);
