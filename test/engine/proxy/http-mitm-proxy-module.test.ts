import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  LibraryCaUnavailableError,
  Proxy,
} from '../../../src/engine/proxy/http-mitm-proxy-module.js';
import { KeygateMitmProxy } from '../../../src/engine/proxy/keygate-mitm-proxy.js';

const require = createRequire(import.meta.url);

describe('http-mitm-proxy, loaded without its CA', () => {
  it('is the library’s Proxy class, and KeygateMitmProxy extends it', () => {
    expect(typeof Proxy).toBe('function');
    expect(KeygateMitmProxy.prototype).toBeInstanceOf(Proxy);
    expect(typeof Proxy.prototype.onConnect).toBe('function');
  });

  it('never loads node-forge', () => {
    const forge = Object.keys(require.cache).filter((path) => path.includes('/node-forge/'));
    expect(forge).toEqual([]);
  });

  it('refuses loudly if the library ever reaches its own CA', () => {
    const ca = require('http-mitm-proxy/dist/lib/ca.js') as {
      default: { create(): unknown };
    };
    expect(() => ca.default.create()).toThrow(LibraryCaUnavailableError);
    expect(() => ca.default.create()).toThrow(/Keygate replaces it/);
  });
});
