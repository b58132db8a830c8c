/**
 * What survives the young generation, per intercepted request (issue 9 §6): Keygate, bare
 * http-mitm-proxy and the minimal `https.request` MITM (minimal-mitm.mjs) under the same load, each with V8's
 * `--trace-gc-nvp`, summed over the scavenges of one run. Bytes allocated per request are about
 * the same for both; what differs is how much of it a scavenge finds alive and promotes.
 *   node bench/experiments/gc-survivors.mjs [seconds]
 */
import { runCell } from '../lib/load.mjs';
import { cleanupAll, installCleanupHandlers } from '../lib/processes.mjs';
import { startEnvironment } from '../lib/setup.mjs';
import { forkMinimalMitm } from './minimal-mitm-path.mjs';

installCleanupHandlers();
const seconds = Number(process.argv[2] ?? 6);
const TRACE = ['--trace-gc-nvp'];
const environment = await startEnvironment({
  only: ['mitm'],
  withMitmproxy: false,
  keygateExecArgv: TRACE,
  mitmExecArgv: TRACE,
});
const minimal = await forkMinimalMitm(environment, 'https', TRACE);
const runs = [
  {
    path: environment.paths.find((p) => p.id === 'keygate'),
    stdout: environment.keygate.child.stdout,
  },

  { path: environment.paths.find((p) => p.id === 'mitm'), stdout: environment.mitm.child.stdout },
  { path: minimal.path, stdout: minimal.child.stdout },
];
const field = (line, name) => Number(new RegExp(`\\b${name}=([0-9.]+)`).exec(line)?.[1] ?? 0);
const rows = [];
for (const { path, stdout } of runs) {
  let trace = '';
  const collect = (chunk) => (trace += chunk);
  stdout.on('data', collect);
  await runCell(path, { concurrency: 10, durationMs: 1000, warmupMs: 0 });
  trace = '';
  const cell = await runCell(path, { concurrency: 10, durationMs: seconds * 1000, warmupMs: 0 });
  stdout.off('data', collect);
  await path.dispatcher.destroy();
  const requests = cell.rps * seconds;
  const scavenges = trace.split('\n').filter((line) => line.includes(' gc=s '));
  const perRequest = (name, scale = 1) =>
    (scavenges.reduce((sum, line) => sum + field(line, name), 0) * scale) / requests;
  rows.push([
    path.label ?? path.id,
    scavenges.length,
    perRequest('pause', 1000).toFixed(1),
    perRequest('allocated').toFixed(0),
    perRequest('new_space_survived').toFixed(0),
    perRequest('promoted').toFixed(0),
  ]);
}
console.log(
  '| path | scavenges | scavenge µs/req | allocated B/req | survived B/req | promoted B/req |',
);
console.log('|---|--:|--:|--:|--:|--:|');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
await environment.keygate.call('shutdown', {}, 10_000).catch(() => undefined);
minimal.child.disconnect();
await environment.close();
cleanupAll();
process.exit(0);
