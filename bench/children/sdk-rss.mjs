/**
 * Idle RSS of an engine as `keygate serve` runs it, then again after the 1Password SDK is loaded
 * through Keygate's own lazy loader (the path an op:// mapping takes on first use). Then how long
 * the SDK takes to refuse a malformed service-account token (the issue: under 100 ms), with the
 * network cut off so nothing could reach 1Password.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { KeygateEngine } from '../../dist/engine/keygate-engine.js';
import { createLogger } from '../../dist/engine/log/logger.js';
import {
  isSdkLoaded,
  loadSdk,
  sdkClientFactory,
} from '../../dist/engine/secrets/onepassword/sdk-loader.js';
import { Secret } from '../../dist/engine/secrets/secret.js';

globalThis.fetch = () => Promise.reject(new Error('the bench never reaches 1Password'));
const MALFORMED = ['not-a-token', 'ops_garbage', 'ops_!!!', 'eyJhbGciOiJIUzI1NiJ9'];

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
const factory = sdkClientFactory('bench');
const malformedMs = [];
for (let round = 0; round < 5; round++) {
  for (const token of MALFORMED) {
    const t0 = performance.now();
    const refused = await factory({ kind: 'service-account', token: new Secret(token) }).then(
      () => false,
      () => true,
    );
    if (!refused) throw new Error('a malformed token was accepted');
    malformedMs.push(performance.now() - t0);
  }
}
await engine.stop();
process.send({
  type: 'ready',
  before,
  after,
  loadMs,
  loadedBefore,
  loadedAfter: isSdkLoaded(),
  malformedMs,
});
setTimeout(() => process.exit(0), 50);
