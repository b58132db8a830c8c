/**
 * Starts everything the bench compares: the upstream, Keygate, bare http-mitm-proxy, a raw
 * CONNECT pipe and mitmdump, each in its own process, plus an in-process upstream for SSE. All of
 * them listen on 127.0.0.1 and dial only 127.0.0.1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { directDispatcher, proxyDispatcher } from './load.mjs';
import { createBenchPki } from './pki.mjs';
import { forkChild, freePort, sleep, spawnTracked, tempDir, waitForPort } from './processes.mjs';
import { BENCH_SECRET, startUpstream } from './upstream-server.mjs';

const CHILDREN = fileURLToPath(new URL('../children/', import.meta.url));

const MITMPROXY_ADDON = `# Written by Keygate's bench: sets the header Keygate injects, on every request.
import os

AUTH = "Bearer " + os.environ["BENCH_SECRET"]


class InjectHeader:
    def request(self, flow):
        flow.request.headers["authorization"] = AUTH


addons = [InjectHeader()]
`;

export function mitmdumpVersion() {
  const result = spawnSync('mitmdump', ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (result.error || result.status !== 0) return undefined;
  return /Mitmproxy:\s*(\S+)/.exec(result.stdout)?.[1] ?? result.stdout.split('\n')[0];
}

export function loudWarning(lines) {
  const bar = '!'.repeat(78);
  console.error(`\n${bar}\n${lines.map((l) => `!!! ${l}`).join('\n')}\n${bar}\n`);
}

async function startMitmdump(root, caPath) {
  const version = mitmdumpVersion();
  if (!version) {
    loudWarning([
      'mitmdump (mitmproxy) is NOT installed: the mitmproxy column is skipped.',
      'Install it with `apt-get install mitmproxy` to compare against it.',
    ]);
    return undefined;
  }
  const confdir = join(root, 'mitmproxy');
  mkdirSync(confdir);
  const addon = join(confdir, 'keygate_bench_addon.py');
  writeFileSync(addon, MITMPROXY_ADDON);
  const port = await freePort();
  const proc = spawnTracked(
    'mitmdump',
    [
      '--mode',
      'regular',
      '--listen-host',
      '127.0.0.1',
      '--listen-port',
      String(port),
      '--set',
      `confdir=${confdir}`,
      '--set',
      `ssl_verify_upstream_trusted_ca=${caPath}`,
      '--set',
      'termlog_verbosity=error',
      '--set',
      'flow_detail=0',
      '-q',
      '-s',
      addon,
    ],
    { env: { ...process.env, BENCH_SECRET } },
  );
  const dead = () => proc.child.exitCode !== null || proc.child.signalCode !== null;
  try {
    await waitForPort(port, 30_000, dead);
    const ca = join(confdir, 'mitmproxy-ca-cert.pem');
    for (let i = 0; i < 100 && !existsSync(ca); i++) await sleep(100);
    return { port, pid: proc.child.pid, version, caPem: readFileSync(ca, 'utf8'), proc };
  } catch (err) {
    loudWarning([`mitmdump did not start: ${err.message}`, proc.output().slice(-500)]);
    await proc.stop();
    return undefined;
  }
}

/**
 * @param {{ withMitmproxy?: boolean, keygateExecArgv?: string[], mitmExecArgv?: string[], only?: string[] }} options
 */
export async function startEnvironment(options = {}) {
  const root = tempDir('keygate-bench-');
  const pki = await createBenchPki(root);
  const sseWrites = new Map();
  const sse = await startUpstream({
    certPem: pki.certPem,
    keyPem: pki.keyPem,
    onSseWrite: (seq, at) => sseWrites.set(seq, at),
  });
  const commonEnv = { BENCH_CA: pki.caPath, BENCH_SECRET };
  const want = (name) => !options.only || options.only.includes(name);

  const upstream = await forkChild(join(CHILDREN, 'upstream.mjs'), {
    name: 'upstream',
    env: { ...commonEnv, BENCH_CERT: pki.certPath, BENCH_KEY: pki.keyPath },
  });
  const upstreamPort = upstream.info.port;

  const keygateHome = join(root, 'keygate-home');
  mkdirSync(keygateHome);
  const keygate = await forkChild(join(CHILDREN, 'keygate.mjs'), {
    name: 'keygate',
    execArgv: ['--expose-gc', ...(options.keygateExecArgv ?? [])],
    env: {
      ...commonEnv,
      BENCH_HOME: keygateHome,
      BENCH_CONNECT_TO: JSON.stringify([
        `sse.bench.test:443:127.0.0.1:${sse.port}`,
        `::127.0.0.1:${upstreamPort}`,
      ]),
    },
  });
  const kg = keygate.info;
  const keygateUrl = `http://${kg.agentName}:${kg.token}@127.0.0.1:${kg.port}`;
  const keygateCa = readFileSync(kg.caPath, 'utf8');

  let mitm;
  if (want('mitm')) {
    const mitmDir = join(root, 'http-mitm-proxy');
    mkdirSync(mitmDir);
    mitm = await forkChild(join(CHILDREN, 'mitm.mjs'), {
      name: 'http-mitm-proxy',
      execArgv: ['--expose-gc', ...(options.mitmExecArgv ?? [])],
      env: { ...commonEnv, BENCH_MITM_DIR: mitmDir },
    });
  }
  const pipe = want('pipe')
    ? await forkChild(join(CHILDREN, 'pipe.mjs'), { name: 'raw pipe', env: commonEnv })
    : undefined;
  const mitmproxy =
    options.withMitmproxy !== false && want('mitmproxy')
      ? await startMitmdump(root, pki.caPath)
      : undefined;

  const direct = `https://127.0.0.1:${upstreamPort}`;
  const paths = [
    {
      id: 'direct',
      label: 'direct',
      pid: undefined,
      dispatcher: directDispatcher(pki.caPem),
      origin: direct,
    },
    {
      id: 'keygate',
      label: 'keygate intercept+inject',
      pid: keygate.pid,
      dispatcher: proxyDispatcher(keygateUrl, keygateCa),
      origin: 'https://api.bench.test',
      expectInjected: true,
    },
    {
      id: 'tunnel',
      label: 'keygate tunneled',
      pid: keygate.pid,
      dispatcher: proxyDispatcher(keygateUrl, pki.caPem),
      origin: direct,
    },
  ];
  if (mitm) {
    paths.push({
      id: 'mitm',
      label: 'bare http-mitm-proxy',
      pid: mitm.pid,
      dispatcher: proxyDispatcher(
        `http://127.0.0.1:${mitm.info.port}`,
        readFileSync(mitm.info.caPath, 'utf8'),
      ),
      // A name, so its forceSNI path is used; its agent resolves every name to 127.0.0.1.
      origin: `https://api.bench.test:${upstreamPort}`,
      expectInjected: true,
    });
  }
  if (mitmproxy) {
    paths.push({
      id: 'mitmproxy',
      label: `mitmproxy ${mitmproxy.version}`,
      pid: mitmproxy.pid,
      dispatcher: proxyDispatcher(`http://127.0.0.1:${mitmproxy.port}`, mitmproxy.caPem),
      origin: direct,
      expectInjected: true,
    });
  }
  if (pipe) {
    paths.push({
      id: 'pipe',
      label: 'raw CONNECT pipe',
      pid: pipe.pid,
      dispatcher: proxyDispatcher(`http://127.0.0.1:${pipe.info.port}`, pki.caPem),
      origin: direct,
    });
  }

  return {
    root,
    pki,
    sse,
    sseWrites,
    upstream,
    upstreamPort,
    keygate,
    keygateUrl,
    keygateCa,
    mitm,
    pipe,
    mitmproxy,
    paths,
    async close() {
      await Promise.allSettled(paths.map((p) => p.dispatcher.destroy()));
      await keygate.call('shutdown', {}, 10_000).catch(() => undefined);
      await Promise.allSettled([
        keygate.stop(),
        upstream.stop(),
        mitm?.stop(),
        pipe?.stop(),
        mitmproxy?.proc.stop(),
        sse.close(),
      ]);
    },
  };
}
