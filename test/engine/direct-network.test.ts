import { describe, expect, it, vi } from 'vitest';
import { ensureDirectNetwork } from '../../src/engine/direct-network.js';

describe('ensureDirectNetwork', () => {
  it('drops inherited proxy variables in any case, and nothing else', () => {
    const env: NodeJS.ProcessEnv = {
      HTTPS_PROXY: 'http://default:t@127.0.0.1:8790',
      http_proxy: 'http://default:t@127.0.0.1:8790',
      All_Proxy: 'socks5://x',
      NO_PROXY: 'localhost',
      PATH: '/usr/bin',
    };
    const result = ensureDirectNetwork(env, {});
    expect(result.dropped.sort()).toEqual(['All_Proxy', 'HTTPS_PROXY', 'http_proxy']);
    expect(env).toEqual({ NO_PROXY: 'localhost', PATH: '/usr/bin' });
    expect(result.warning).toBeUndefined();
  });

  it('resets Node’s own proxying where Node can (setGlobalProxyFromEnv with no proxies)', () => {
    const setGlobalProxyFromEnv = vi.fn();
    const result = ensureDirectNetwork({ NODE_USE_ENV_PROXY: '1' }, { setGlobalProxyFromEnv });
    expect(setGlobalProxyFromEnv).toHaveBeenCalledWith({});
    expect(result.warning).toBeUndefined();
  });

  it('warns when NODE_USE_ENV_PROXY is set and this Node cannot undo it', () => {
    const result = ensureDirectNetwork({ NODE_USE_ENV_PROXY: '1' }, { version: '22.21.0' });
    expect(result.warning).toMatch(/NODE_USE_ENV_PROXY is set, and this Node cannot undo it/);
  });

  it('does not warn on a Node that ignores NODE_USE_ENV_PROXY (20, 22.0-22.20)', () => {
    for (const version of ['20.20.2', '22.12.0'])
      expect(ensureDirectNetwork({ NODE_USE_ENV_PROXY: '1' }, { version }).warning).toBeUndefined();
  });

  it('undoes the agent preload: a direct dispatcher again, and no preload flag for children', () => {
    const undo = vi.fn();
    const globals = { [Symbol.for('keygate.agentPreload')]: { undo } };
    const env: NodeJS.ProcessEnv = {
      NODE_OPTIONS:
        '--max-old-space-size=4096 --import=file:///opt/keygate/dist/engine/agent-preload/node-fetch-proxy.js',
    };
    ensureDirectNetwork(env, {}, globals);
    expect(undo).toHaveBeenCalledOnce();
    expect(env).toEqual({ NODE_OPTIONS: '--max-old-space-size=4096' });

    const only: NodeJS.ProcessEnv = {
      NODE_OPTIONS: '--import=file:///x/agent-preload/node-fetch-proxy.js',
    };
    ensureDirectNetwork(only, {}, {});
    expect(only).toEqual({});
  });
});
