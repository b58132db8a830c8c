/**
 * Keygate's own outbound traffic must never go through an HTTP proxy, least of all through
 * Keygate itself: 1Password's SDK uses the global `fetch`, and a shell that ran
 * `eval "$(keygate env)"` hands every command it starts Keygate's proxy variables.
 */
import http from 'node:http';

type ProxyEnvSetter = (proxyEnv: Record<string, string>) => unknown;

/**
 * Drops inherited `HTTP(S)_PROXY` / `ALL_PROXY` (any case) from `env`, and where Node can proxy
 * by itself (`NODE_USE_ENV_PROXY`, read at start-up), resets its global agents and `fetch`
 * dispatcher to direct connections. Returns the names dropped, and a warning when Node may
 * still proxy `fetch` and cannot be told otherwise.
 */
export function ensureDirectNetwork(
  env: NodeJS.ProcessEnv = process.env,
  node: { setGlobalProxyFromEnv?: ProxyEnvSetter } = http as {
    setGlobalProxyFromEnv?: ProxyEnvSetter;
  },
): { dropped: string[]; warning?: string } {
  const dropped = Object.keys(env).filter((name) => /^(https?|all)_proxy$/i.test(name));
  for (const name of dropped) delete env[name];
  if (typeof node.setGlobalProxyFromEnv === 'function') {
    // Node ≥ 24.x: an empty proxy environment means every connection is direct again.
    node.setGlobalProxyFromEnv({});
    return { dropped };
  }
  if (env.NODE_USE_ENV_PROXY) {
    return {
      dropped,
      warning:
        'NODE_USE_ENV_PROXY is set, and this Node cannot undo it: start Keygate without it so its traffic to 1Password is never proxied',
    };
  }
  return { dropped };
}
