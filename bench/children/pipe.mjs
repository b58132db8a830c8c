/**
 * The baseline: a raw Node CONNECT pipe. Answers CONNECT to 127.0.0.1 and pipes bytes both ways.
 * No auth, no policy, no TLS: the cheapest a tunnel can be in Node.
 */
import http from 'node:http';
import net from 'node:net';
import { serveRpc } from '../lib/rpc.mjs';

const server = http.createServer();
server.on('connect', (req, client, head) => {
  const at = req.url.lastIndexOf(':');
  const host = req.url.slice(0, at);
  const port = Number(req.url.slice(at + 1));
  if (host !== '127.0.0.1') return client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  const upstream = net.connect({ host, port, noDelay: true }, () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  client.setNoDelay(true);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('close', () => upstream.destroy());
});
server.listen(0, '127.0.0.1', () => {
  serveRpc({});
  process.send({ type: 'ready', port: server.address().port });
});
