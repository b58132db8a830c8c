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
