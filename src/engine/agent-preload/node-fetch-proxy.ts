/**
 * Keygate's preload for Node agents, loaded with `NODE_OPTIONS=--import=<this file>` by
 * `keygate run` and `keygate env` (see coverage.ts for why and on which versions). On a Node
 * that cannot honour `NODE_USE_ENV_PROXY`, it makes undici's `EnvHttpProxyAgent` (which reads
 * `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`) the global dispatcher, so the global `fetch`, and
 * every SDK built on it, goes through Keygate with no change to the agent's code. Node's own
 * `fetch` reads the global dispatcher from `Symbol.for('undici.globalDispatcher.1')`, which
 * `setGlobalDispatcher` sets.
 *
 * It must never break the process it is loaded into: it does nothing on a Node that proxies by
 * itself or when no proxy variable is set, and a failure prints one line and carries on.
 * Keygate's own processes undo it (direct-network.ts) through the handle left at
 * `Symbol.for('keygate.agentPreload')`.
 */
import { nodeProxyRoute } from './coverage.js';
import { PRELOAD_HANDLE, type PreloadHandle } from './handle.js';

const env = process.env;
const proxied = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some(
  (name) => env[name],
);

if (proxied && nodeProxyRoute(process.versions.node) === 'preload') {
  try {
    const { Agent, EnvHttpProxyAgent, setGlobalDispatcher } = await import('undici');
    setGlobalDispatcher(new EnvHttpProxyAgent());
    const handle: PreloadHandle = { undo: () => setGlobalDispatcher(new Agent()) };
    Object.defineProperty(globalThis, PRELOAD_HANDLE, { value: handle, configurable: true });
  } catch (err) {
    process.stderr.write(
      `keygate preload: could not route this Node's fetch through Keygate: ${err instanceof Error ? err.message : String(err)}\n`,
    );
  }
}
