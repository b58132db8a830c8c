import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamRoutes, parseConnectTo } from '../../../src/engine/proxy/connect-to.js';
import {
  createUpstreamAgents,
  type UpstreamAgents,
} from '../../../src/engine/proxy/upstream-agents.js';
import { createTestPki } from '../../helpers/test-pki.js';

let server: https.Server;
let agents: UpstreamAgents;
const remotePorts: number[] = [];

beforeAll(async () => {
  const pki = await createTestPki();
  const { certPem, keyPem } = await pki.issue(['a.example.test', 'b.example.test']);
  server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    remotePorts.push(req.socket.remotePort ?? 0);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  agents = createUpstreamAgents({
    routes: new UpstreamRoutes([
      parseConnectTo(`a.example.test:443:127.0.0.1:${port}`),
      parseConnectTo(`b.example.test:443:127.0.0.1:${port}`),
    ]),
    extraCaPem: [pki.caPem],
  });
});

afterAll(async () => {
  agents?.destroy();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function get(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get({ host, port: 443, path: '/', agent: agents.https, servername: host }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(body));
      })
      .once('error', reject);
  });
}

describe('upstream agents', () => {
  it('pools by host, port and verified name: one kept-alive socket per host, none shared', async () => {
    remotePorts.length = 0;
    for (const host of ['a.example.test', 'a.example.test', 'b.example.test', 'b.example.test'])
      expect(await get(host)).toBe('ok');
    const [a1, a2, b1, b2] = remotePorts;
    expect(a2).toBe(a1);
    expect(b2).toBe(b1);
    expect(b1).not.toBe(a1);
  });

  it('keys a pool without concatenating every TLS option', () => {
    const key = agents.https.getName({
      host: 'a.example.test',
      port: 443,
      servername: 'a.example.test',
    });
    expect(key).toBe('a.example.test:443:::a.example.test');
    expect(agents.https.getName({ host: 'a.example.test', port: 8443 })).not.toBe(key);
  });
});
