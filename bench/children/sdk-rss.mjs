/**
 * Idle RSS of an engine as `keygate serve` runs it, then again after the 1Password SDK is loaded
 * through Keygate's own lazy loader (the path an op:// mapping takes on first use).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { KeygateEngine } from '../../dist/engine/keygate-engine.js';
import { createLogger } from '../../dist/engine/log/logger.js';
import { isSdkLoaded, loadSdk } from '../../dist/engine/secrets/onepassword/sdk-loader.js';

const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 1500);
const rss = () => {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
};
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

const engine = await KeygateEngine.start({
  home: process.env.BENCH_HOME,
  host: '127.0.0.1',
  port: 0,
  logger: createLogger({ level: 'warn' }),
});
await settle();
const loadedBefore = isSdkLoaded();
const before = rss();
const started = performance.now();
await loadSdk();
const loadMs = performance.now() - started;
await settle();
const after = rss();
await engine.stop();
process.send({ type: 'ready', before, after, loadMs, loadedBefore, loadedAfter: isSdkLoaded() });
setTimeout(() => process.exit(0), 50);
