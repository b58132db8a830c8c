/**
 * The load generator: undici with keep-alive, N requests in flight in a loop for a fixed time.
 * Latencies go into one preallocated Float64Array, so the client allocates little per request.
 */
import { performance } from 'node:perf_hooks';
import { cpus } from 'node:os';
import { Agent, ProxyAgent } from 'undici';
import { benchPids, cpuTicks, machineBusyTicks } from './processes.mjs';

const NCPU = cpus().length;
const TICK_US = 10_000;

/**
 * CPU accounting for one cell: the proxy's own CPU per request (robust to other load on the
 * machine, unlike req/s), and how much of the machine processes outside the bench used.
 */
function cpuMeter(proxyPid) {
  const pids = benchPids();
  const sum = () => pids.reduce((total, pid) => total + (cpuTicks(pid) || 0), 0);
  const start = { wall: performance.now(), busy: machineBusyTicks(), bench: sum() };
  const proxyStart = proxyPid ? cpuTicks(proxyPid) : Number.NaN;
  return (count) => {
    const seconds = (performance.now() - start.wall) / 1000;
    const busy = machineBusyTicks() - start.busy;
    const bench = sum() - start.bench;
    const proxy = proxyPid ? cpuTicks(proxyPid) - proxyStart : Number.NaN;
    return {
      foreignCpu: Math.max(0, (busy - bench) / (seconds * 100 * NCPU)),
      proxyCpuUsPerRequest: count > 0 ? (proxy * TICK_US) / count : Number.NaN,
    };
  };
}

/** Keep-alive and timeouts shared by every client dispatcher. */
const CLIENT_OPTIONS = {
  keepAliveTimeout: 120_000,
  keepAliveMaxTimeout: 600_000,
  headersTimeout: 15_000,
  bodyTimeout: 15_000,
  pipelining: 1,
};

/** A direct client trusting `ca`. */
export function directDispatcher(ca, extra = {}) {
  return new Agent({ ...CLIENT_OPTIONS, ...extra, connect: { ca, ALPNProtocols: ['http/1.1'] } });
}

/** A client that tunnels through `proxyUrl` (CONNECT) and trusts `ca` for the origin. */
export function proxyDispatcher(proxyUrl, ca, extra = {}) {
  return new ProxyAgent({
    ...CLIENT_OPTIONS,
    ...extra,
    uri: proxyUrl,
    requestTls: { ca, ALPNProtocols: ['http/1.1'] },
  });
}

const MAX_SAMPLES = 4_000_000;
const samples = new Float64Array(MAX_SAMPLES);

export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Runs `concurrency` workers against `target` for `warmupMs` (discarded) then `durationMs`.
 * Bounded in time and in count; a path that keeps failing is cut short after 50 errors.
 * @returns {Promise<{count:number, errors:number, rps:number, p50:number, p90:number, p99:number, max:number, injected:boolean|undefined, firstError?:string}>}
 */
export async function runCell(target, { concurrency, durationMs, warmupMs }) {
  const { dispatcher, origin, path = '/', expectInjected } = target;
  const request = { origin, path, method: 'GET' };
  let errors = 0;
  let firstError;
  let injected;
  let recording = false;
  let count = 0;
  let stop = false;

  const one = async () => {
    const t0 = performance.now();
    try {
      const response = await dispatcher.request(request);
      await response.body.dump();
      const t1 = performance.now();
      if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
      if (recording) {
        if (injected === undefined) injected = response.headers['x-injected'] === '1';
        if (count < MAX_SAMPLES) samples[count++] = t1 - t0;
        else stop = true;
      }
    } catch (err) {
      errors += 1;
      firstError ??= String(err?.message ?? err);
      if (errors >= 50) stop = true;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const worker = async (deadline) => {
    while (!stop && performance.now() < deadline) await one();
  };
  const workers = (deadline) =>
    Promise.all(Array.from({ length: concurrency }, () => worker(deadline)));

  await workers(performance.now() + warmupMs);
  errors = 0;
  firstError = undefined;
  recording = true;
  const meter = cpuMeter(target.pid);
  const started = performance.now();
  await workers(started + durationMs);
  const elapsed = performance.now() - started;
  recording = false;
  const cpu = meter(count);

  const sorted = samples.subarray(0, count).slice().sort();
  return {
    count,
    errors,
    rps: (count / elapsed) * 1000,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    injected: expectInjected ? injected : undefined,
    ...cpu,
    ...(firstError ? { firstError } : {}),
  };
}

/** One request, for smoke checks: status and whether the upstream saw the credential. */
export async function probe(target) {
  const response = await target.dispatcher.request({
    origin: target.origin,
    path: target.path ?? '/',
    method: 'GET',
  });
  await response.body.dump();
  return { status: response.statusCode, injected: response.headers['x-injected'] === '1' };
}
