/**
 * Decision 0007's measurement. Keygate, bare http-mitm-proxy and direct (from the bench's own
 * environment) next to two minimal Node-native MITMs (minimal-mitm.mjs) that differ only in their
 * upstream client: https.request or an undici Pool. Rounds interleaved, 10 clients, medians.
 *   node bench/experiments/upstream-client.mjs [rounds]
 */
import { fileURLToPath } from 'node:url';
import { median, proxyDispatcher, runCell } from '../lib/load.mjs';
import { cleanupAll, forkChild, installCleanupHandlers } from '../lib/processes.mjs';
import { startEnvironment } from '../lib/setup.mjs';
import { BENCH_SECRET } from '../lib/upstream-server.mjs';

installCleanupHandlers();
const environment = await startEnvironment({ only: ['mitm'], withMitmproxy: false });
const { pki, upstreamPort } = environment;
const paths = environment.paths.filter((p) => p.id !== 'tunnel');
for (const client of ['https', 'undici']) {
  const child = await forkChild(fileURLToPath(new URL('./minimal-mitm.mjs', import.meta.url)), {
    name: `minimal MITM, ${client}`,
    env: {
      BENCH_CA: pki.caPath,
      BENCH_CERT: pki.certPath,
      BENCH_KEY: pki.keyPath,
      BENCH_UPSTREAM_PORT: String(upstreamPort),
      BENCH_SECRET,
      MITM_CLIENT: client,
    },
  });
  child.child.stderr.on('data', (d) => process.stderr.write(d));
  paths.push({
    id: client,
    label: `minimal MITM, ${client === 'https' ? 'https.request' : 'undici Pool'}`,
    pid: child.pid,
    dispatcher: proxyDispatcher(`http://127.0.0.1:${child.info.port}`, pki.caPem),
    origin: `https://api.bench.test:${upstreamPort}`,
    expectInjected: true,
  });
}

const rounds = Number(process.argv[2] ?? 8);
const cells = Object.fromEntries(paths.map((p) => [p.id, []]));
for (const path of paths) await runCell(path, { concurrency: 10, durationMs: 1000, warmupMs: 0 });
for (let round = 0; round < rounds; round += 1) {
  const shift = round % paths.length;
  for (const path of [...paths.slice(shift), ...paths.slice(0, shift)]) {
    const cell = await runCell(path, { concurrency: 10, durationMs: 1000, warmupMs: 250 });
    if (cell.errors) console.error(`${path.label}: ${cell.errors} errors (${cell.firstError})`);
    if (path.expectInjected && !cell.injected) console.error(`${path.label}: not injected`);
    cells[path.id].push(cell);
  }
}
const pairwise = (id, other) =>
  median(cells[id].map((cell, i) => cell.rps / (cells[other][i]?.rps ?? Number.NaN)));
console.log('| path | req/s @10 | ×direct | proxy CPU µs/req |\n|---|--:|--:|--:|');
for (const path of paths) {
  const c = cells[path.id];
  console.log(
    `| ${path.label} | ${median(c.map((x) => x.rps)).toFixed(0)} | ${pairwise(path.id, 'direct').toFixed(2)} | ${median(c.map((x) => x.proxyCpuUsPerRequest)).toFixed(0)} |`,
  );
}
console.log(
  `\nundici Pool ÷ https.request (req/s, pair by pair): ${pairwise('undici', 'https').toFixed(2)}×`,
);
console.log(`keygate ÷ minimal https.request MITM: ${pairwise('keygate', 'https').toFixed(2)}×`);
await environment.close();
cleanupAll();
process.exit(0);
