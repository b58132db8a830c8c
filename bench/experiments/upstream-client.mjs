/**
 * Decision 0007's measurement. Keygate, bare http-mitm-proxy and direct (from the bench's own
 * environment) next to two minimal Node-native MITMs (minimal-mitm.mjs) that differ only in their
 * upstream client: https.request or an undici Pool. Rounds interleaved, 10 clients, medians.
 *   node bench/experiments/upstream-client.mjs [rounds]
 */
import { median, runCell } from '../lib/load.mjs';
import { cleanupAll, installCleanupHandlers } from '../lib/processes.mjs';
import { startEnvironment } from '../lib/setup.mjs';
import { forkMinimalMitm } from './minimal-mitm-path.mjs';

installCleanupHandlers();
const environment = await startEnvironment({ only: ['mitm'], withMitmproxy: false });
const paths = environment.paths.filter((p) => p.id !== 'tunnel');
for (const client of ['https', 'undici'])
  paths.push((await forkMinimalMitm(environment, client)).path);

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
const pairwise = (id, other, field = 'rps') =>
  median(cells[id].map((cell, i) => cell[field] / (cells[other][i]?.[field] ?? Number.NaN)));
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
// Issue 9 §6's figure. Paired round by round (the two ran seconds apart), so the machine's drift
// over the run, up to 1.7× in an hour here, cancels rather than lands on one side.
const cpuRatios = cells.keygate.map(
  (c, i) => c.proxyCpuUsPerRequest / cells.undici[i].proxyCpuUsPerRequest,
);
const sorted = [...cpuRatios].sort((a, b) => a - b);
console.log(
  `keygate ÷ undici Pool floor (proxy CPU µs/req, pair by pair): median ${median(cpuRatios).toFixed(2)}×, ` +
    `quartiles ${sorted[Math.floor(sorted.length / 4)].toFixed(2)}–${sorted[Math.floor((3 * sorted.length) / 4)].toFixed(2)} over ${sorted.length} rounds (target ≤ 1.15×)`,
);
await environment.close();
cleanupAll();
process.exit(0);
