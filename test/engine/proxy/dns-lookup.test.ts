import dns from 'node:dns';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamDns } from '../../../src/engine/proxy/dns-lookup.js';
import { HostsFile } from '../../../src/engine/proxy/hosts-file.js';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-dns-');
const servers: FakeDns[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function fakeDns(options: Parameters<typeof startFakeDns>[0]): Promise<FakeDns> {
  const server = await startFakeDns(options);
  servers.push(server);
  return server;
}

/** A hosts file of our own, so the test does not depend on the machine's. */
function hostsFile(text: string): HostsFile {
  const path = join(tempDir(), 'hosts');
  writeFileSync(path, text);
  return new HostsFile(path);
}

/** Counts the getaddrinfo calls (the thread-pool lane) and answers them from `dns.lookup`. */
function countingSystemLookup() {
  const calls: string[] = [];
  const lookup = (
    hostname: string,
    options: dns.LookupAllOptions,
    callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
  ) => {
    calls.push(hostname);
    dns.lookup(hostname, options, callback);
  };
  return { calls, lookup };
}

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected the lookup to fail');
    },
    (err: NodeJS.ErrnoException) => err,
  );

describe('UpstreamDns: hosts without a mapping (c-ares, off the thread pool)', () => {
  it('resolves through the configured server, never through getaddrinfo', async () => {
    const server = await fakeDns({ answers: { 'known.test': '127.0.0.9' } });
    const system = countingSystemLookup();
    const lookups = new UpstreamDns({
      servers: [server.server],
      hostsFile: hostsFile(''),
      systemLookup: system.lookup,
    });
    expect(await lookups.resolve('a', 'unmapped', 'known.test', 4)).toEqual([
      { address: '127.0.0.9', family: 4 },
    ]);
    expect(server.queries).toContain('known.test');
    expect(system.calls).toEqual([]);
  });

  it('answers IP literals, the hosts file and *.localhost itself, asking no server', async () => {
    const server = await fakeDns({ silent: true });
    const system = countingSystemLookup();
    const lookups = new UpstreamDns({
      servers: [server.server],
      hostsFile: hostsFile(
        '# comment\n10.1.2.3  build.internal  Alias # trailing\n::2 build.internal\n',
      ),
      systemLookup: system.lookup,
    });
    expect(await lookups.resolve('a', 'unmapped', '192.0.2.1')).toEqual([
      { address: '192.0.2.1', family: 4 },
    ]);
    expect(await lookups.resolve('a', 'unmapped', 'BUILD.internal.')).toEqual([
      { address: '10.1.2.3', family: 4 },
      { address: '::2', family: 6 },
    ]);
    expect(await lookups.resolve('a', 'unmapped', 'alias', 4)).toEqual([
      { address: '10.1.2.3', family: 4 },
    ]);
    expect(await lookups.resolve('a', 'unmapped', 'build.internal', 6)).toEqual([
      { address: '::2', family: 6 },
    ]);
    expect(await lookups.resolve('a', 'unmapped', 'localhost', 4)).toEqual([
      { address: '127.0.0.1', family: 4 },
    ]);
    expect(await lookups.resolve('a', 'unmapped', 'app.localhost')).toEqual([
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
    expect(server.queries).toEqual([]);
    expect(system.calls).toEqual([]);
  });

  it('asks the system once more for a name DNS does not know (mDNS, per-domain resolvers)', async () => {
    const server = await fakeDns({});
    const system = countingSystemLookup();
    const lookups = new UpstreamDns({
      servers: [server.server],
      hostsFile: hostsFile(''),
      systemLookup: system.lookup,
    });
    const err = await errorOf(lookups.resolve('a', 'unmapped', 'nowhere.invalid'));
    expect(server.queries).toContain('nowhere.invalid');
    expect(system.calls).toEqual(['nowhere.invalid']);
    expect(err.code).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });

  it('bounds one agent’s lookups in flight, refusing the rest at once, and leaves other agents alone', async () => {
    const server = await fakeDns({ silent: true });
    const system = countingSystemLookup();
    const lookups = new UpstreamDns({
      servers: [server.server],
      timeoutMs: 300,
      tries: 1,
      maxPendingPerAgent: 8,
      hostsFile: hostsFile(''),
      systemLookup: system.lookup,
    });
    const flood = Array.from({ length: 40 }, (_, i) =>
      errorOf(lookups.resolve('flooder', 'unmapped', `never-${i}.flood.test`, 4)),
    );
    const other = errorOf(lookups.resolve('bystander', 'unmapped', 'other.flood.test', 4));
    const errors = await Promise.all(flood);

    const refused = errors.filter((err) => err.code === 'EAI_AGAIN');
    expect(refused).toHaveLength(32);
    expect(refused[0]?.message).toMatch(/agent flooder has 8 DNS lookups in flight already/);
    // The 8 admitted and the other agent's were sent, and timed out: no fallback to the pool.
    expect(errors.filter((err) => err.code === 'ETIMEOUT')).toHaveLength(8);
    expect((await other).code).toBe('ETIMEOUT');
    expect(server.queries).toContain('other.flood.test');
    expect(system.calls).toEqual([]);
    // Once they are done, the agent may look up again.
    expect(
      (await errorOf(lookups.resolve('flooder', 'unmapped', 'again.flood.test', 4))).code,
    ).toBe('ETIMEOUT');
  });
});

describe('UpstreamDns: mapped hosts (the system resolver, bounded per agent)', () => {
  it('uses getaddrinfo, with the hosts file and all, as before', async () => {
    const system = countingSystemLookup();
    const lookups = new UpstreamDns({ systemLookup: system.lookup });
    const found = await lookups.resolve('a', 'mapped', 'localhost', 4);
    expect(found[0]).toEqual({ address: '127.0.0.1', family: 4 });
    expect(system.calls).toEqual(['localhost']);
  });

  it('lets one agent hold at most two pool threads; others are not queued behind it', async () => {
    const started: string[] = [];
    const finish: (() => void)[] = [];
    const lookups = new UpstreamDns({
      systemLookup: (hostname, _options, callback) => {
        started.push(hostname);
        finish.push(() => callback(null, [{ address: '127.0.0.1', family: 4 }]));
      },
    });
    const flood = Array.from({ length: 10 }, (_, i) =>
      lookups.resolve('flooder', 'mapped', `h${i}.wild.example`),
    );
    const other = lookups.resolve('bystander', 'mapped', 'api.example');
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['h0.wild.example', 'h1.wild.example', 'api.example']);
    for (const done of finish.splice(0)) done();
    await other;
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toHaveLength(5);
    while (finish.length > 0) {
      for (const done of finish.splice(0)) done();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(flood)).toHaveLength(10);
  });
});

describe('UpstreamDns.lookupFor: the shape net.connect expects', () => {
  it('answers `all` and single-address lookups, and errors with a code', async () => {
    const server = await fakeDns({ answers: { 'known.test': '127.0.0.9' } });
    const lookup = new UpstreamDns({
      servers: [server.server],
      hostsFile: hostsFile(''),
    }).lookupFor('a', 'unmapped');
    const all = await new Promise((resolve) =>
      lookup('known.test', { family: 4, all: true }, (err, addresses) =>
        resolve({ err, addresses }),
      ),
    );
    expect(all).toEqual({ err: null, addresses: [{ address: '127.0.0.9', family: 4 }] });
    const one = await new Promise((resolve) =>
      lookup('known.test', { family: 4 }, (err, address, family) =>
        resolve({ err, address, family }),
      ),
    );
    expect(one).toEqual({ err: null, address: '127.0.0.9', family: 4 });
  });

  it('dials through it: net.connect to a name the fake server knows', async () => {
    const server = await fakeDns({ answers: { 'upstream.test': '127.0.0.1' } });
    const listener = net.createServer((socket) => socket.end('hi'));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = listener.address() as net.AddressInfo;
      const lookup = new UpstreamDns({
        servers: [server.server],
        hostsFile: hostsFile(''),
      }).lookupFor('a', 'unmapped');
      const text = await new Promise<string>((resolve, reject) => {
        let got = '';
        net
          .connect({ host: 'upstream.test', port, lookup })
          .on('data', (chunk) => (got += chunk.toString()))
          .on('end', () => resolve(got))
          .on('error', reject);
      });
      expect(text).toBe('hi');
    } finally {
      listener.close();
    }
  });

  it('refuses a --dns-server that is not an address, by name', () => {
    expect(() => new UpstreamDns({ servers: ['dns.example.com'] })).toThrow(
      /--dns-server dns\.example\.com: expected an IP address/,
    );
  });
});
