/**
 * Child processes, temp dirs and their cleanup; RSS from /proc. Everything started here is
 * registered, and killed or removed on exit, on SIGINT/SIGTERM and on an uncaught error.
 */
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callChild } from './rpc.mjs';

const children = new Set();
const dirs = new Set();

export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

function alive(child) {
  return child.exitCode === null && child.signalCode === null;
}

/** Synchronous, so it also works from process.on('exit'). Only our own children, by pid. */
export function cleanupAll() {
  for (const child of children) {
    if (alive(child)) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

let installed = false;
export function installCleanupHandlers() {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}: stopping children and removing temp dirs`);
      cleanupAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    console.error('bench: uncaught error:', err);
    cleanupAll();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    console.error('bench: unhandled rejection:', err);
    cleanupAll();
    process.exit(1);
  });
}

function tail(text, max = 4000) {
  return text.length > max ? text.slice(-max) : text;
}

/**
 * Forks a bench child (an ESM file) and waits for its `{ type: 'ready', ... }` message.
 * Returns a handle with `info` (the ready message), `call()` (rpc) and `stop()`.
 */
export async function forkChild(
  script,
  { name, env = {}, execArgv = [], readyTimeoutMs = 60_000 },
) {
  const child = fork(script, [], {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(child);
  // A send to a child that just exited is reported by callChild; never crash the bench on it.
  child.on('error', () => undefined);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (output = tail(output + chunk)));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (output = tail(output + chunk)));
  const info = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${name} did not start within ${readyTimeoutMs} ms:\n${output}`));
    }, readyTimeoutMs);
    child.on('message', function onReady(message) {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      child.off('message', onReady);
      resolve(message);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
  return {
    name,
    child,
    pid: child.pid,
    info,
    output: () => output,
    call: (method, args, timeoutMs) => callChild(child, method, args, timeoutMs),
    stop: (graceful = true) => stopChild(child, graceful ? 'SIGTERM' : 'SIGKILL'),
  };
}

/** Spawns a non-node child (mitmdump) and registers it for cleanup. */
export function spawnTracked(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.add(child);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk) => (output = tail(output + chunk)));
  child.stderr?.setEncoding('utf8').on('data', (chunk) => (output = tail(output + chunk)));
  return { child, output: () => output, stop: () => stopChild(child, 'SIGTERM') };
}

/** Asks a child to exit (`signal`), then kills it after 5 s. Resolves when it has exited. */
export function stopChild(child, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    if (!alive(child)) {
      children.delete(child);
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      if (alive(child)) child.kill('SIGKILL');
    }, 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      resolve();
    });
    child.kill(signal);
  });
}

/** Resident set size of `pid` in bytes (VmRSS), or NaN if it cannot be read. */
export function readRss(pid) {
  return readStatusField(pid, 'VmRSS');
}

function readStatusField(pid, field) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Resets the kernel's peak-RSS mark (VmHWM) for `pid`; false if not permitted. */
function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples VmRSS of `pid` every `intervalMs` and, where the kernel lets us reset it, also reads
 * VmHWM at the end, so a spike between two samples is not missed.
 */
export function sampleRss(pid, intervalMs = 20) {
  const baseline = readRss(pid);
  const hwmReset = resetPeak(pid);
  let peak = baseline;
  const timer = setInterval(() => {
    const rss = readRss(pid);
    if (rss > peak) peak = rss;
  }, intervalMs);
  return {
    baseline,
    stop() {
      clearInterval(timer);
      const rss = readRss(pid);
      if (rss > peak) peak = rss;
      if (hwmReset) {
        const hwm = readStatusField(pid, 'VmHWM');
        if (hwm > peak) peak = hwm;
      }
      return { baseline, peak, growth: peak - baseline, hwmReset };
    },
  };
}

/** A free TCP port on 127.0.0.1 (for mitmdump, which cannot report an ephemeral one). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:port accepts a connection; bounded by `timeoutMs`. */
export async function waitForPort(port, timeoutMs, isDead = () => false) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (isDead()) throw new Error(`process exited before port ${port} opened`);
    const ok = await new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** utime + stime of `pid` in clock ticks (1/100 s on Linux), or NaN. */
export function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}

/** Busy (non-idle, non-iowait) ticks of the whole machine, and the number of CPUs. */
export function machineBusyTicks() {
  try {
    const [line] = readFileSync('/proc/stat', 'utf8').split('\n');
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const [user, nice, system, , , irq, softirq, steal = 0] = values;
    return user + nice + system + irq + softirq + steal;
  } catch {
    return Number.NaN;
  }
}

/** Every process of the bench: this one and the children it started (mitmdump included). */
export function benchPids() {
  const pids = [process.pid];
  for (const child of children) if (alive(child) && child.pid) pids.push(child.pid);
  return pids;
}
