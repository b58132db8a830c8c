/**
 * Bare http-mitm-proxy, configured as the floor: keepAlive and forceSNI, its own CA in a
 * temp dir, the bench upstream's CA trusted, and an onRequest hook setting the same header Keygate
 * injects. Every name it dials resolves to 127.0.0.1 (a fixed lookup), so nothing leaves the host.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Proxy } from 'http-mitm-proxy';
import { serveRpc } from '../lib/rpc.mjs';

// The library announces every certificate it makes on the console; the bench does not want it.
console.debug = () => undefined;
console.info = () => undefined;
console.log = () => undefined;

const loopbackOnly = (_hostname, options, callback) => {
  if (options?.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};
const ca = readFileSync(process.env.BENCH_CA, 'utf8');
const AUTH = `Bearer ${process.env.BENCH_SECRET}`;

const proxy = new Proxy();
proxy.onError(() => undefined);
proxy.onRequest((ctx, callback) => {
  ctx.proxyToServerRequestOptions.headers.authorization = AUTH;
  callback();
});
const sslCaDir = process.env.BENCH_MITM_DIR;
await new Promise((resolve, reject) =>
  proxy.listen(
    {
      host: '127.0.0.1',
      port: 0,
      keepAlive: true,
      forceSNI: true,
      sslCaDir,
      httpsAgent: new https.Agent({ keepAlive: true, ca, lookup: loopbackOnly }),
      httpAgent: new http.Agent({ keepAlive: true, lookup: loopbackOnly }),
    },
    (err) => (err ? reject(err) : resolve()),
  ),
);
serveRpc({});
process.send({ type: 'ready', port: proxy.httpPort, caPath: join(sslCaDir, 'certs', 'ca.pem') });
