/**
 * A local stand-in for 1Password's sign-in endpoint, for the REAL @1password/sdk. A well-formed
 * service-account token names its sign-in address; pointed at 127.0.0.1:PORT, the SDK's WASM
 * core POSTs `https://127.0.0.1:PORT/api/v3/auth/start` with the global `fetch`, which trusts the
 * server only through NODE_EXTRA_CA_CERTS (read at process start, so the SDK runs in a child).
 * Only the network is fake: everything the SDK says is its own.
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createTestPki, type TestPki } from './test-pki.js';

/** How the sign-in endpoint behaves. */
export type SignInScenario =
  | 401
  | 403
  | 429
  | 500
  /** TCP reset as soon as the connection opens. */
  | 'reset'
  /** Nothing listens on the port. */
  | 'closed-port'
  /** TLS completes, the request arrives, and no answer ever comes. */
  | 'hang'
  /** The sign-in host does not resolve. */
  | 'dns'
  /** A certificate the client does not trust. */
  | 'untrusted';

export const SCENARIOS: readonly SignInScenario[] = [
  401,
  403,
  429,
  500,
  'reset',
  'closed-port',
  'hang',
  'dns',
  'untrusted',
];

/** A service-account token the SDK accepts as well-formed; it signs in at `address`. Not real. */
export function wellFormedToken(address: string): string {
  const bytes = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);
  const credentials = {
    signInAddress: address,
    userAuth: {
      method: 'SRPg-4096',
      alg: 'PBES2g-HS256',
      iterations: 650000,
      salt: bytes(16, 1).toString('base64url'),
    },
    email: 'keygate-test@example.com',
    srpX: bytes(32, 2).toString('hex'),
    muk: {
      alg: 'A256GCM',
      ext: true,
      k: bytes(32, 3).toString('base64url'),
      key_ops: ['decrypt', 'encrypt'],
      kty: 'oct',
      kid: 'mp',
    },
    secretKey: 'A3-ABCDEF-GHJKLM-NPQRS-TVWXY-Z2345-6789A',
    throttleSecret: { seed: bytes(32, 4).toString('hex'), uuid: 'abcdefghijklmnopqrstuvwxyz' },
    deviceUuid: 'zyxwvutsrqponmlkjihgfedcba',
  };
  return `ops_${Buffer.from(JSON.stringify(credentials)).toString('base64url')}`;
}

export interface SignInServer {
  /** What the token's signInAddress should be. */
  readonly address: string;
  /** The CA to trust (NODE_EXTRA_CA_CERTS), except in 'untrusted'. */
  readonly caPath: string;
  /** Requests that reached the endpoint, as `METHOD path`. */
  readonly requests: string[];
  close(): Promise<void>;
}

let sharedPki: Promise<TestPki> | undefined;

export async function startSignInServer(scenario: SignInScenario): Promise<SignInServer> {
  const pki = await (sharedPki ??= createTestPki());
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const base = { caPath: pki.caPath, requests };
  if (scenario === 'dns') {
    // RFC 6761 §6.4: .invalid never resolves.
    return { ...base, address: 'signin.keygate-test.invalid:443', close: () => Promise.resolve() };
  }
  let server: Server | ReturnType<typeof createNetServer>;
  if (scenario === 'reset' || scenario === 'closed-port') {
    server = createNetServer((socket) => socket.resetAndDestroy());
  } else {
    const { certPem, keyPem } =
      scenario === 'untrusted'
        ? await (await createTestPki()).issue(['127.0.0.1'])
        : await pki.issue(['127.0.0.1']);
    server = createHttpsServer({ cert: certPem, key: keyPem }, (req, res) => {
      requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
      req.resume();
      req.on('end', () => {
        if (scenario === 'hang' || scenario === 'untrusted') return;
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (scenario === 429) headers['retry-after'] = '42';
        res.writeHead(scenario, headers);
        res.end(JSON.stringify({ reason: `status ${scenario}` }));
      });
    });
  }
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  if (scenario === 'closed-port') await close();
  return { ...base, address: `127.0.0.1:${port}`, close };
}
