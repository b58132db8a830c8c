#!/usr/bin/env node
// The release smoke test (docs/macos.md, "A Mac checks every release"): starts a Keygate host over
// a temporary home, waits for its proxy port, sends one request through it with
// `keygate run -- curl` to a local upstream, stops the host the way a user would, and checks the
// settings survived. The host is any command: the built app's binary on a Mac
// (.github/workflows/release-macos.yml), `keygate serve` on Linux
// (test/packaging/smoke-script.test.ts), so the script is known to work before a Mac runs it.
//
//   node scripts/smoke.mjs --home DIR [--keygate "node dist/cli/keygate.js"] -- HOST COMMAND...
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const WAIT_MS = 60_000;
const BODY = 'keygate-smoke-ok';
const AGENT = 'smoke-agent';

function parseArgs(argv) {
  const split = argv.indexOf('--');
  if (split === -1)
    throw new Error('usage: smoke.mjs --home DIR [--keygate CMD] -- HOST COMMAND...');
  const options = { keygate: `${process.execPath} dist/cli/keygate.js` };
  const flags = argv.slice(0, split);
  for (let i = 0; i < flags.length; i += 2) options[flags[i].replace(/^--/, '')] = flags[i + 1];
  if (!options.home) throw new Error('--home is required');
  return { ...options, host: argv.slice(split + 1) };
}

const step = (text) => process.stdout.write(`smoke: ${text}\n`);
// Unref'd: a pending wait never keeps the script alive after it is done.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

async function until(what, test) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await test();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const env = { ...process.env, KEYGATE_HOME: options.home };
  const [kgFile, ...kgArgs] = options.keygate.split(' ');
  // Asynchronous: the upstream below answers from this same process.
  const keygate = async (...args) =>
    (await promisify(execFile)(kgFile, [...kgArgs, ...args], { env, encoding: 'utf8' })).stdout;

  // A setting written before the host starts, to check it is still there after it quits.
  await keygate('agent', 'add', AGENT);
  step(`agent ${AGENT} added in ${options.home}`);

  let hits = 0;
  const upstream = http.createServer((_req, res) => {
    hits++;
    res.end(BODY);
  });
  await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamPort = upstream.address().port;

  const [file, ...args] = options.host;
  const host = spawn(file, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) =>
    host.once('exit', (code, signal) => resolve({ code, signal })),
  );
  try {
    const runtime = join(options.home, 'serve.json');
    const port = await until('the proxy port (serve.json)', async () => {
      if (!existsSync(runtime)) return undefined;
      const { port } = JSON.parse(readFileSync(runtime, 'utf8'));
      return port && (await canConnect(port)) ? port : undefined;
    });
    step(`proxy listening on 127.0.0.1:${port}`);

    // Through the proxy for sure: loopback is in NO_PROXY, so curl is told to ignore it, and -p
    // makes it CONNECT (the agent token in HTTPS_PROXY is checked there).
    const body = await keygate(
      'run',
      '--agent',
      AGENT,
      '--',
      'sh',
      '-c',
      `curl -sS --fail --noproxy '' -p -x "$HTTPS_PROXY" http://127.0.0.1:${upstreamPort}/`,
    );
    if (body !== BODY || hits !== 1)
      throw new Error(`the request did not arrive: ${JSON.stringify(body)}`);
    step('one request through the proxy reached the upstream');

    host.kill('SIGTERM');
    const { code, signal } = await Promise.race([
      exited,
      sleep(WAIT_MS).then(() => {
        throw new Error('the host did not quit');
      }),
    ]);
    if (code !== 0 && signal !== 'SIGTERM') throw new Error(`the host quit with ${code ?? signal}`);
    if (existsSync(runtime)) throw new Error('serve.json was left behind');
    step('quit cleanly');

    const agents = await keygate('agent', 'list');
    if (!agents.includes(AGENT)) throw new Error(`the settings lost agent ${AGENT}:\n${agents}`);
    step('settings survived');
  } finally {
    if (host.exitCode === null && host.signalCode === null) host.kill('SIGKILL');
    upstream.close();
  }
}

main().then(
  () => step('passed'),
  (err) => {
    process.stderr.write(`smoke: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
