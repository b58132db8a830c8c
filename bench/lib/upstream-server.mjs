/**
 * The local HTTPS upstream every path talks to: keep-alive, a 2-byte JSON body on `/`, SSE on
 * `/sse`, a large download on `/big` and an upload sink on `/upload`. It answers `x-injected: 1`
 * when the request carries the bench credential, so the bench can prove injection happened.
 */
import https from 'node:https';
import { performance } from 'node:perf_hooks';

export const BENCH_SECRET = 'sk-bench-0123456789abcdef';
const EXPECTED_AUTH = `Bearer ${BENCH_SECRET}`;
const SMALL = Buffer.from('{}');
const SMALL_INJECTED = [
  'content-type',
  'application/json',
  'content-length',
  '2',
  'x-injected',
  '1',
];
const SMALL_PLAIN = ['content-type', 'application/json', 'content-length', '2', 'x-injected', '0'];
const BLOCK = Buffer.alloc(64 * 1024, 97);
/** Hard caps, so a typo in a query string cannot make the bench run away. */
const MAX_BIG_BYTES = 512 * 1024 * 1024;
const MAX_SSE_CHUNKS = 1000;

function query(url, name, fallback, max) {
  const at = url.indexOf('?');
  if (at < 0) return fallback;
  const value = Number(new URLSearchParams(url.slice(at + 1)).get(name) ?? fallback);
  return Number.isFinite(value) && value >= 0 ? Math.min(value, max) : fallback;
}

/**
 * @param {{ certPem: string, keyPem: string, onSseWrite?: (seq: number, at: number) => void }} options
 */
export function startUpstream(options) {
  const server = https.createServer({
    cert: options.certPem,
    key: options.keyPem,
    keepAlive: true,
    keepAliveTimeout: 300_000,
    noDelay: true,
  });
  server.keepAliveTimeout = 300_000;
  server.headersTimeout = 310_000;
  server.requestTimeout = 0;
  server.on('request', (req, res) => {
    const url = req.url ?? '/';
    if (url === '/' || url.startsWith('/?')) {
      res.writeHead(
        200,
        req.headers.authorization === EXPECTED_AUTH ? SMALL_INJECTED : SMALL_PLAIN,
      );
      res.end(SMALL);
      return;
    }
    if (url.startsWith('/sse')) {
      const count = query(url, 'n', 20, MAX_SSE_CHUNKS);
      const gap = query(url, 'gap', 50, 1000);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let seq = 0;
      const tick = () => {
        if (res.destroyed) return;
        const at = performance.now();
        options.onSseWrite?.(seq, at);
        res.write(`id: ${seq}\ndata: {"seq":${seq}}\n\n`);
        seq += 1;
        if (seq < count) setTimeout(tick, gap);
        else res.end();
      };
      tick();
      return;
    }
    if (url.startsWith('/big')) {
      const size = query(url, 'bytes', 1_000_000, MAX_BIG_BYTES);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      let left = size;
      const pump = () => {
        while (left > 0 && !res.destroyed) {
          const n = Math.min(left, BLOCK.length);
          left -= n;
          if (!res.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('close', () => {
        left = 0;
      });
      pump();
      return;
    }
    if (url.startsWith('/upload')) {
      let bytes = 0;
      req.on('data', (chunk) => {
        bytes += chunk.length;
      });
      req.on('end', () => {
        const body = Buffer.from(JSON.stringify({ bytes }));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      });
      return;
    }
    res.writeHead(404, { 'content-length': 0 });
    res.end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve({
        server,
        port: server.address().port,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
