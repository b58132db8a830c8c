/**
 * Which Node versions send `fetch` through Keygate, and how. Node honours `HTTPS_PROXY` for its
 * own `fetch` and `http` only with `NODE_USE_ENV_PROXY=1`, and only from v22.21.0 (backport) and
 * v24.0.0; on Node 20, 22.0–22.20 and 23, the global `fetch` (and so the OpenAI and Anthropic
 * SDKs) dials the API directly, holding the placeholder. For those, `keygate run` and
 * `keygate env` add Keygate's preload (`node-fetch-proxy.ts`) to `NODE_OPTIONS`.
 *
 * The preload needs `--import` in NODE_OPTIONS (Node ≥ 18.19 / 20.6) and undici 7 (Node ≥ 20.18.1);
 * it is tested on Node 20 and 22.12, and checked to be a no-op on Node 24.
 */
export type NodeProxyRoute = 'native' | 'preload' | 'not-covered';

export const NODE_COVERAGE =
  'Node agents: Node >= 22.21 and 24+ honour the proxy themselves (NODE_USE_ENV_PROXY=1); Node 20.18-22.20 and 23 through the Keygate preload in NODE_OPTIONS; older Node is not covered';

export function parseNodeVersion(version: string): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** How a Node of this version reaches Keygate from a `keygate run` / `keygate env` environment. */
export function nodeProxyRoute(version: string): NodeProxyRoute {
  const parsed = parseNodeVersion(version);
  if (!parsed) return 'not-covered';
  const [major, minor, patch] = parsed;
  if (major >= 24 || (major === 22 && minor >= 21)) return 'native';
  if (major === 20 && (minor > 18 || (minor === 18 && patch >= 1))) return 'preload';
  if (major === 21 || major === 22 || major === 23) return 'preload';
  return 'not-covered';
}
