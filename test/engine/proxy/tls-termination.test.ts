/**
 * terminateTls (src/engine/proxy/tls-termination.ts): Keygate's side of the agent's TLS on a
 * socket it already holds. It serves the leaf it is given whatever the SNI, offers HTTP/1.1 only,
 * takes bytes read before it was called (a `head`, or bytes waiting in the paused socket), and
 * reports exactly one outcome: `onSecure` with the TLSSocket it returns, or `onHandshakeError`
 * (a handshake that failed, timed out, or was abandoned), after which the socket is closed. The
 * leaf is a real one of a per-run Keygate CA; clients are Node's TLS and curl, on 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { terminateTls } from '../../../src/engine/proxy/tls-termination.js';
import {
  loadOrCreateCertificateAuthority,
  type CertificateAuthority,
} from '../../../src/engine/tls/certificate-authority.js';
import { LeafCertificates } from '../../../src/engine/tls/leaf-certificates.js';

const HOST = 'api.example.com';

let caRoot: string;
let ca: CertificateAuthority;
let leaf: SecureContext;

beforeAll(async () => {
  caRoot = mkdtempSync(join(tmpdir(), 'keygate-tls-termination-'));
  ca = await loadOrCreateCertificateAuthority(join(caRoot, 'ca'));
  leaf = await (await LeafCertificates.create(ca)).secureContextFor(HOST);
});
afterAll(() => rmSync(caRoot, { recursive: true, force: true }));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Outcomes {
  /** The socket terminateTls returned, per connection. */
  readonly returned: tls.TLSSocket[];
  readonly secured: tls.TLSSocket[];
  readonly errors: Error[];
  /** The accepted (raw) sockets, to see them closed. */
  readonly raw: net.Socket[];
}

/**
 * A TCP server that hands each connection to terminateTls. `accept` decides when, and with
 * which head; by default as connect.ts does: paused, terminated, then resumed.
 */
async function startServer(
  options: {
    handshakeMs?: number;
    accept?: (raw: net.Socket, terminate: (head: Buffer) => void) => void;
  } = {},
): Promise<{ port: number } & Outcomes> {
  const outcomes: Outcomes = { returned: [], secured: [], errors: [], raw: [] };
  const accept =
    options.accept ??
    ((raw, terminate) => {
      raw.pause();
      terminate(Buffer.alloc(0));
      raw.resume();
    });
  // Half-open, as the proxy's HTTP server accepts its sockets: an agent's FIN alone closes nothing.
  const server = net.createServer({ allowHalfOpen: true }, (raw) => {
    outcomes.raw.push(raw);
    raw.on('error', () => undefined);
    accept(raw, (head) => {
      const socket = terminateTls(raw, head, leaf, options.handshakeMs ?? 5_000, {
        onSecure: (secure) => outcomes.secured.push(secure),
        onHandshakeError: (err) => outcomes.errors.push(err),
      });
      outcomes.returned.push(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const raw of outcomes.raw) raw.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, ...outcomes };
}

function connect(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const secure = tls.connect({
    port,
    host: '127.0.0.1',
    servername: HOST,
    ca: ca.certPem,
    ...options,
  });
  cleanups.push(() => void secure.destroy());
  return new Promise((resolve, reject) =>
    secure.once('secureConnect', () => resolve(secure)).once('error', reject),
  );
}

function rawClient(port: number): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  cleanups.push(() => void socket.destroy());
  return socket;
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) =>
    socket.destroyed ? resolve() : socket.once('close', () => resolve()),
  );
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

function firstData(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => socket.once('data', (chunk: Buffer) => resolve(String(chunk))));
}

describe('terminateTls: the handshake', () => {
  it('completes with the given leaf, picks http/1.1, and reports onSecure once with the socket it returned', async () => {
    const server = await startServer();
    const secure = await connect(server.port, { ALPNProtocols: ['h2', 'http/1.1'] });
    expect(secure.authorized).toBe(true);
    expect(secure.alpnProtocol).toBe('http/1.1');
    await until(() => server.secured.length > 0, 'onSecure');
    expect(server.secured).toEqual(server.returned);
    expect(server.secured[0]).toBeInstanceOf(tls.TLSSocket);
    expect(server.errors).toEqual([]);
    // The socket it reported is the connection to the agent.
    const reply = firstData(secure);
    server.secured[0]?.write('hello agent');
    expect(await reply).toBe('hello agent');
  });

  it('serves its leaf whatever name the agent sends in SNI, or without one', async () => {
    const server = await startServer();
    const names: string[] = [];
    for (const servername of ['other.example.org', '']) {
      const secure = await connect(server.port, {
        servername,
        // The name is checked below: the leaf is for the host Keygate was given.
        checkServerIdentity: () => undefined,
      });
      expect(secure.authorized).toBe(true);
      names.push(secure.getPeerCertificate().subjectaltname ?? '(none)');
    }
    expect(names).toEqual([`DNS:${HOST}`, `DNS:${HOST}`]);
  });

  it('takes bytes that arrived while the caller held the socket paused', async () => {
    const server = await startServer({
      accept: (raw, terminate) => {
        raw.pause();
        // As while a leaf is minted: the ClientHello arrives and waits, unread.
        void until(() => raw.readableLength > 0, 'the ClientHello').then(() => {
          terminate(Buffer.alloc(0));
          raw.resume();
        });
      },
    });
    const secure = await connect(server.port);
    expect(secure.authorized).toBe(true);
    expect(server.errors).toEqual([]);
  });

  it('takes a head the caller already read, when the caller then resumes the socket (as connect.ts does)', async () => {
    const server = await startServer({
      accept: (raw, terminate) => {
        // As the HTTP server hands over a CONNECT whose packet also held the ClientHello.
        raw.once('data', (head: Buffer) => {
          raw.pause();
          terminate(head);
          raw.resume();
        });
      },
      handshakeMs: 1_000,
    });
    const secure = await connect(server.port);
    expect(secure.authorized).toBe(true);
    expect(server.errors).toEqual([]);
  });
});

describe('terminateTls: a handshake that fails is reported once, and the socket closed', () => {
  it('an agent that sends nothing: "TLS handshake timed out" after handshakeMs', async () => {
    const server = await startServer({ handshakeMs: 100 });
    const started = performance.now();
    const socket = rawClient(server.port);
    await closed(socket);
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    await until(() => server.errors.length > 0, 'onHandshakeError');
    // A moment more, so a second report (on close) would be seen.
    await new Promise((r) => setTimeout(r, 20));
    expect(server.errors.map((e) => e.message)).toEqual(['TLS handshake timed out']);
    expect(server.secured).toEqual([]);
    expect(server.raw[0]?.destroyed).toBe(true);
  });

  it('an agent that speaks plain HTTP: OpenSSL names it', async () => {
    const server = await startServer();
    const socket = rawClient(server.port);
    socket.write('GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\n\r\n');
    await closed(socket);
    await until(() => server.errors.length > 0, 'onHandshakeError');
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]?.message).toMatch(/http request|wrong version number/i);
    expect(server.secured).toEqual([]);
  });

  it('curl, which does not trust the CA: its alert is the reported error', async () => {
    const server = await startServer();
    const exit = await new Promise<number | null>((resolve) => {
      execFile(
        'curl',
        [
          '--silent',
          '--max-time',
          '5',
          '--resolve',
          `${HOST}:${server.port}:127.0.0.1`,
          `https://${HOST}:${server.port}/`,
        ],
        (err) => resolve(err ? ((err as { code?: number }).code ?? null) : 0),
      );
    });
    expect(exit).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
    await until(() => server.errors.length > 0, 'onHandshakeError');
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]?.message).toMatch(/unknown ca/i);
    expect(server.secured).toEqual([]);
  });

  it('a Node agent, which does not trust the CA and closes without an alert, is reported too', async () => {
    const server = await startServer();
    // Node's own roots only: the Keygate CA is not among them.
    await expect(connect(server.port, { ca: undefined })).rejects.toThrow(
      /unable to verify|self[- ]signed|issuer/i,
    );
    await until(() => server.errors.length > 0, 'onHandshakeError');
    await new Promise((r) => setTimeout(r, 20));
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]?.message).toMatch(/closed the connection during the TLS handshake/);
    // It had Keygate's certificate: the log line may ask about trust.
    expect(server.errors[0]).toMatchObject({ name: 'HandshakeAbandonedError', afterHello: true });
    expect(server.secured).toEqual([]);
  });

  it('an agent that connects and leaves without a ClientHello is reported, once', async () => {
    const server = await startServer();
    const socket = rawClient(server.port);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    await until(() => server.returned.length > 0, 'terminateTls');
    socket.destroy();
    await until(() => server.errors.length > 0, 'onHandshakeError');
    await new Promise((r) => setTimeout(r, 20));
    expect(server.errors.map((e) => e.message)).toEqual([
      'the agent closed the connection during the TLS handshake',
    ]);
    expect(server.errors[0]).toMatchObject({ name: 'HandshakeAbandonedError', afterHello: false });
  });
});

describe('terminateTls: after the handshake', () => {
  it('the handshake timer no longer runs, and a later failure is not a handshake error', async () => {
    const server = await startServer({ handshakeMs: 100 });
    const raw = rawClient(server.port);
    const secure = await connect(server.port, { socket: raw });
    await until(() => server.secured.length > 0, 'onSecure');
    await new Promise((r) => setTimeout(r, 200));
    const reply = firstData(secure);
    server.secured[0]?.write('still open');
    expect(await reply).toBe('still open');
    // The agent resets the connection: an error on Keygate's side, after 'secure'.
    raw.resetAndDestroy();
    await until(() => server.raw[0]?.destroyed === true, 'the socket to close');
    await new Promise((r) => setTimeout(r, 20));
    expect(server.errors).toEqual([]);
    expect(server.secured[0]?.destroyed).toBe(true);
  });

  it('closing the TLSSocket closes the socket under it', async () => {
    const server = await startServer();
    const secure = await connect(server.port);
    await until(() => server.secured.length > 0, 'onSecure');
    server.secured[0]?.destroy();
    await closed(secure);
    expect(server.raw[0]?.destroyed).toBe(true);
    expect(server.errors).toEqual([]);
  });
});
