/**
 * Starts one minimal MITM (minimal-mitm.mjs) beside a bench environment and returns it as a
 * bench path: `client` is `https` (https.request) or `undici` (an undici Pool).
 */
import { fileURLToPath } from 'node:url';
import { proxyDispatcher } from '../lib/load.mjs';
import { forkChild } from '../lib/processes.mjs';
import { BENCH_SECRET } from '../lib/upstream-server.mjs';

export async function forkMinimalMitm(environment, client, execArgv = []) {
  const { pki, upstreamPort } = environment;
  const child = await forkChild(fileURLToPath(new URL('./minimal-mitm.mjs', import.meta.url)), {
    name: `minimal MITM, ${client}`,
    execArgv,
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
  const path = {
    id: client,
    label: `minimal MITM, ${client === 'https' ? 'https.request' : 'undici Pool'}`,
    pid: child.pid,
    dispatcher: proxyDispatcher(`http://127.0.0.1:${child.info.port}`, pki.caPem),
    origin: `https://api.bench.test:${upstreamPort}`,
    expectInjected: true,
  };
  return { child: child.child, path };
}
