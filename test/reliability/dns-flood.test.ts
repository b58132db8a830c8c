/**
 * One agent flooding CONNECTs to never-seen names must not stall another agent's mapped request
 * (issue 9 §4). The flood's names go to a DNS server on loopback that never answers: before,
 * every lookup took one of libuv's four thread-pool threads (getaddrinfo) for as long as the DNS
 * server kept it waiting, and the mapped request queued behind them for 10 s and got 504. Now
 * names without a mapping resolve with c-ares, off the pool and bounded per agent, while the
 * mapped host (routed to `localhost`, so it needs a lookup of its own) resolves as before.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectHealthy } from '../helpers/bystanders.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { startHostileUpstream, type HostileUpstream } from '../helpers/hostile-upstream.js';
import { keygate, startServe, tempHome, type ServeHandle } from '../helpers/keygate-process.js';
import { basicAuth, connectHead } from '../helpers/raw-http.js';
import { createTestPki } from '../helpers/test-pki.js';

const FLOOD = 48;
let upstream: HostileUpstream;
let dns: FakeDns;
let serve: ServeHandle;
let home: ReturnType<typeof tempHome>;

beforeAll(async () => {
  const pki = await createTestPki();
  upstream = await startHostileUpstream({ pki, hosts: ['api.openai.com'] });
  dns = await startFakeDns({ silent: true });
  home = tempHome();
  expect(
    keygate(['map', 'add', 'api.openai.com', 'env://OPENAI_API_KEY'], { home: home.home }).status,
  ).toBe(0);
  expect(keygate(['agent', 'add', 'flooder'], { home: home.home }).status).toBe(0);
  serve = await startServe(
    home.home,
    [
      '--connect-to',
      `api.openai.com:443:localhost:${upstream.port}`,
      '--upstream-ca',
      pki.caPath,
      '--dns-server',
      dns.server,
    ],
    { OPENAI_API_KEY: 'sk-dns-flood-CANARY', KEYGATE_LOG: 'warn' },
  );
});

afterAll(async () => {
  await serve?.stop();
  await Promise.all([upstream?.close(), dns?.close()]);
  home?.cleanup();
});

function tokenOf(name: string): string {
  const settings = JSON.parse(readFileSync(join(home.home, 'settings.json'), 'utf8')) as {
    agents: { name: string; token: string }[];
  };
  const agent = settings.agents.find((a) => a.name === name);
  if (!agent) throw new Error(`no agent ${name}`);
  return agent.token;
}

/** A CONNECT left waiting; resolves with whatever Keygate answered, if anything. */
function connectAndWait(
  target: string,
  auth: string,
): { socket: net.Socket; answer: Promise<string> } {
  const socket = net.connect(serve.port, '127.0.0.1');
  let text = '';
  const answer = new Promise<string>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) resolve(text);
    });
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
  socket.write(connectHead(target, auth));
  return { socket, answer };
}

describe('a DNS flood from one agent', () => {
  it('leaves another agent’s mapped request unaffected', async () => {
    const flooder = basicAuth('flooder', tokenOf('flooder'));
    const flood = Array.from({ length: FLOOD }, (_, i) =>
      connectAndWait(`never-${i}-${Date.now()}.flood.test:443`, flooder),
    );
    try {
      // The flood is in flight: its lookups have reached the DNS server, which never answers.
      await vi.waitFor(() => expect(dns.queries.length).toBeGreaterThanOrEqual(16), {
        timeout: 5_000,
        interval: 20,
      });

      const caPem = readFileSync(join(home.home, 'ca', 'ca.pem'), 'utf8');
      const dispatcher = new ProxyAgent({
        uri: serve.url,
        token: basicAuth('default', tokenOf('default')),
        requestTls: { ca: caPem },
      });
      const started = Date.now();
      const response = await request('https://api.openai.com/ok', {
        dispatcher,
        headers: { authorization: 'Bearer placeholder' },
      });
      const body = await response.body.text();
      const tookMs = Date.now() - started;
      await dispatcher.close();

      expect(response.statusCode, body).toBe(200);
      expect(tookMs).toBeLessThan(2_000);
      expect(upstream.received.at(-1)?.headers.authorization).toBe('Bearer sk-dns-flood-CANARY');

      // Past its bound, the flooder's CONNECTs were refused at once rather than queued.
      const refused = await Promise.race([
        Promise.all(flood.slice(32).map((f) => f.answer)),
        new Promise<string[]>((resolve) => setTimeout(() => resolve([]), 2_000)),
      ]);
      expect(refused).toHaveLength(FLOOD - 32);
      for (const answer of refused) expect(answer).toMatch(/^HTTP\/1\.1 502 .*EAI_AGAIN/s);
      await expectHealthy(serve.port);
    } finally {
      for (const { socket } of flood) socket.destroy();
    }
  });
});
