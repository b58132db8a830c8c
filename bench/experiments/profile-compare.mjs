/**
 * Where Keygate's extra CPU per intercepted request goes (issue 9 §6): Keygate and the two
 * minimal MITMs (minimal-mitm.mjs) each CPU-profiled under the same load (10 clients), and their
 * busy time split by area, in µs per request. The differences are what Keygate adds.
 *   node bench/experiments/profile-compare.mjs [seconds]
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCell } from '../lib/load.mjs';
import { cleanupAll, installCleanupHandlers, tempDir } from '../lib/processes.mjs';
import { summarizeProfile } from '../lib/profile.mjs';
import { startEnvironment } from '../lib/setup.mjs';
import { forkMinimalMitm } from './minimal-mitm-path.mjs';

installCleanupHandlers();
const seconds = Number(process.argv[2] ?? 5);
const dirs = {
  keygate: tempDir('kg-prof-'),
  https: tempDir('https-prof-'),
  undici: tempDir('undici-prof-'),
};
const prof = (dir) => ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '200'];
const environment = await startEnvironment({
  only: [],
  withMitmproxy: false,
  keygateExecArgv: prof(dirs.keygate),
});
const paths = environment.paths.filter((p) => p.id === 'keygate');
const children = { keygate: environment.keygate.child };
for (const client of ['https', 'undici']) {
  const { child, path } = await forkMinimalMitm(environment, client, prof(dirs[client]));
  children[client] = child;
  paths.push(path);
}
const counts = {};
for (const path of paths) {
  await runCell(path, { concurrency: 10, durationMs: 1000, warmupMs: 0 });
  const cell = await runCell(path, { concurrency: 10, durationMs: seconds * 1000, warmupMs: 0 });
  counts[path.id] = cell.rps * seconds;
  await path.dispatcher.destroy();
}
await environment.keygate.call('shutdown', {}, 10_000).catch(() => undefined);
for (const [id, child] of Object.entries(children)) {
  if (id !== 'keygate') child.disconnect();
  await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
}
await environment.close();
const summaries = {};
for (const [id, dir] of Object.entries(dirs)) {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  summaries[id] = summarizeProfile(join(dir, file), { top: 40 });
}
const ids = Object.keys(dirs);
const perReq = (id, ms) => (ms * 1000) / counts[id];
console.log(`requests: ${ids.map((id) => `${id} ${Math.round(counts[id])}`).join(', ')}`);
console.log(
  `busy µs/req: ${ids.map((id) => `${id} ${perReq(id, summaries[id].busyMs).toFixed(0)}`).join(', ')}`,
);
const areas = new Set(ids.flatMap((id) => summaries[id].areas.map((a) => a.area)));
console.log(`\n| area | ${ids.join(' | ')} |\n|---|${ids.map(() => '--:').join('|')}|`);
const rows = [...areas].map((area) => [
  area,
  ids.map((id) => perReq(id, summaries[id].areas.find((a) => a.area === area)?.ms ?? 0)),
]);
rows.sort((a, b) => b[1][0] - a[1][0]);
for (const [area, v] of rows)
  if (Math.max(...v) >= 1) console.log(`| ${area} | ${v.map((x) => x.toFixed(1)).join(' | ')} |`);
for (const id of ['keygate', 'https']) {
  console.log(`\n### ${id}: self time, µs/req`);
  for (const f of summaries[id].self.slice(0, 40))
    console.log(`${perReq(id, f.ms).toFixed(1).padStart(6)}  ${f.fn}`);
}
cleanupAll();
process.exit(0);
