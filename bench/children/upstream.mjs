/** The upstream in a process of its own, so it never shares an event loop with client or proxy. */
import { readFileSync } from 'node:fs';
import { startUpstream } from '../lib/upstream-server.mjs';
import { serveRpc } from '../lib/rpc.mjs';

const upstream = await startUpstream({
  certPem: readFileSync(process.env.BENCH_CERT, 'utf8'),
  keyPem: readFileSync(process.env.BENCH_KEY, 'utf8'),
});
serveRpc({});
process.send({ type: 'ready', port: upstream.port });
