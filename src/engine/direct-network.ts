/**
 * Keygate's own outbound traffic must never go through an HTTP proxy, least of all through
 * Keygate itself: 1Password's SDK uses the global `fetch`, and a shell that ran
 * `eval "$(keygate env)"` hands every command it starts Keygate's proxy variables.
 */
import http from 'node:http';
import { withoutPreload } from './agent-env.js';
import { nodeProxyRoute } from './agent-preload/coverage.js';
import { PRELOAD_HANDLE, type PreloadHandle } from './agent-preload/handle.js';

type ProxyEnvSetter = (proxyEnv: Record<string, string>) => unknown;

/**
 * Drops inherited `HTTP(S)_PROXY` / `ALL_PROXY` (any case) from `env`, undoes Keygate's own agent
 * preload if a shell's `NODE_OPTIONS` loaded it into this process, and where Node can proxy
 * by itself (`NODE_USE_ENV_PROXY`, read at start-up), resets its global agents and `fetch`
 * dispatcher to direct connections. Returns the names dropped, and a warning when Node may
 * still proxy `fetch` and cannot be told otherwise.
 */
export function ensureDirectNetwork(
  env: NodeJS.ProcessEnv = process.env,
  node: { setGlobalProxyFromEnv?: ProxyEnvSetter; version?: string } = http as {
    setGlobalProxyFromEnv?: ProxyEnvSetter;
  },
  globals: object = globalThis,
): { dropped: string[]; warning?: string } {
  const dropped = Object.keys(env).filter((name) => /^(https?|all)_proxy$/i.test(name));
  for (const name of dropped) delete env[name];
  undoAgentPreload(env, globals);
  if (typeof node.setGlobalProxyFromEnv === 'function') {
    // Node ≥ 24.x: an empty proxy environment means every connection is direct again.
    node.setGlobalProxyFromEnv({});
    return { dropped };
  }
  // Only a Node that honours NODE_USE_ENV_PROXY (≥ 22.21, 24) proxies because of it.
  const honoursFlag = nodeProxyRoute(node.version ?? process.versions.node) === 'native';
  if (env.NODE_USE_ENV_PROXY && honoursFlag) {
    return {
      dropped,
      warning:
        'NODE_USE_ENV_PROXY is set, and this Node cannot undo it: start Keygate without it so its traffic to 1Password is never proxied',
    };
  }
  return { dropped };
}

/**
 * A shell that ran `eval "$(keygate env)"` starts Keygate itself with the agent preload in
 * `NODE_OPTIONS` (agent-preload/node-fetch-proxy.ts). On Node 20 it has then already made the
 * global `fetch` (1Password's SDK) go through the proxy: put a direct dispatcher back, and take
 * the flag out of `env` so nothing Keygate starts inherits it.
 */
function undoAgentPreload(env: NodeJS.ProcessEnv, globals: object): void {
  const handle = (globals as Record<symbol, PreloadHandle | undefined>)[PRELOAD_HANDLE];
  handle?.undo();
  if (env.NODE_OPTIONS !== undefined) {
    const rest = withoutPreload(env.NODE_OPTIONS);
    if (rest) env.NODE_OPTIONS = rest;
    else delete env.NODE_OPTIONS;
  }
}
