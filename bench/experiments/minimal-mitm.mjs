/**
 * A minimal Node-native MITM for decision 0007: CONNECT → TLSSocket (one static leaf) →
 * http.Server → one upstream request per request, with the upstream client chosen by
 * MITM_CLIENT: `https` (https.request on a keep-alive Agent, as Keygate does) or `undici` (an
 * undici Pool per origin). No auth, no policy, no scrubbing: only the cost of the two clients.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { Pool } from 'undici';
import { serveRpc } from '../lib/rpc.mjs';

const ca = readFileSync(process.env.BENCH_CA, 'utf8');
const context = tls.createSecureContext({
  cert: readFileSync(process.env.BENCH_CERT, 'utf8'),
  key: readFileSync(process.env.BENCH_KEY, 'utf8'),
});
const upstreamPort = Number(process.env.BENCH_UPSTREAM_PORT);
const useUndici = process.env.MITM_CLIENT === 'undici';
let reported = false;

const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca });
const pools = new Map();
function poolFor(host) {
  let pool = pools.get(host);
  if (!pool) {
    // Dialled by address, verified by name, as Keygate's --connect-to does.
    pool = new Pool(`https://127.0.0.1:${upstreamPort}`, {
      connections: 64,
      pipelining: 1,
      connect: { ca, servername: host },
    });
    pools.set(host, pool);
  }
  return pool;
}

/** Headers undici refuses to be given (it manages the connection itself). */
const UNDICI_OWNED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host']);

const inner = http.createServer((req, res) => {
  const host = req.socket.servername;
  const headers = { ...req.headers, authorization: `Bearer ${process.env.BENCH_SECRET}` };
  if (useUndici) for (const name of UNDICI_OWNED) delete headers[name];
  if (useUndici) {
    poolFor(host).request(
      { method: req.method, path: req.url, headers, body: req.method === 'GET' ? null : req },
      (err, upstream) => {
        if (err) {
          if (!reported) console.error(`undici: ${err.message}`);
          reported = true;
          res.writeHead(502).end();
          return;
        }
        res.writeHead(upstream.statusCode, upstream.headers);
        upstream.body.pipe(res);
      },
    );
    return;
  }
  const upstream = https.request({
    host: '127.0.0.1',
    servername: host,
    port: upstreamPort,
    method: req.method,
    path: req.url,
    headers,
    agent,
  });
  upstream.on('response', (response) => {
    res.writeHead(response.statusCode, response.headers);
    response.pipe(res);
  });
  upstream.on('error', () => res.writeHead(502).end());
  req.pipe(upstream);
});

const outer = http.createServer();
outer.on('connect', (req, socket, head) => {
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  const secure = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: context,
    ALPNProtocols: ['http/1.1'],
  });
  secure.on('error', () => socket.destroy());
  inner.emit('connection', secure);
});
outer.listen(0, '127.0.0.1', () => {
  serveRpc({});
  process.send({ type: 'ready', port: outer.address().port });
});
