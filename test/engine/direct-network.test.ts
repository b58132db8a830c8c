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
    const result = ensureDirectNetwork({ NODE_USE_ENV_PROXY: '1' }, {});
    expect(result.warning).toMatch(/NODE_USE_ENV_PROXY is set, and this Node cannot undo it/);
  });
});
