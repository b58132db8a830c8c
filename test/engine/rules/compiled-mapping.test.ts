import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/engine/errors.js';
import { CompiledMapping, mappingRefs } from '../../../src/engine/rules/compiled-mapping.js';
import type { Mapping } from '../../../src/shared/settings-schema.js';

function mapping(overrides: Partial<Mapping> = {}): Mapping {
  return {
    host: 'api.openai.com',
    ref: 'env://OPENAI_API_KEY',
    injector: { type: 'bearer' },
    ...overrides,
  };
}

describe('CompiledMapping', () => {
  it('compiles a plain mapping', () => {
    const m = new CompiledMapping(mapping());
    expect(m.name).toBe('api.openai.com');
    expect(m.config.injector.type).toBe('bearer');
    expect(m.hostMatcher.pattern).toBe('api.openai.com');
    expect(m.pathMatcher).toBeUndefined();
    expect(m.refs).toEqual(['env://OPENAI_API_KEY']);
    expect(m.allowPlaintext).toBe(false);
    expect(m.config).toEqual(mapping());
  });

  it.each([
    [{}, 'api.openai.com'],
    [{ path: '/v1/**' }, 'api.openai.com/v1/**'],
    [{ port: 443 }, 'api.openai.com'],
    [{ port: 8443 }, 'api.openai.com:8443'],
    [{ port: 8443, path: '/v1/**' }, 'api.openai.com:8443/v1/**'],
    [{ host: '*.example.com', path: '/x' }, '*.example.com/x'],
    [{ host: 'API.OpenAI.com.' }, 'api.openai.com'],
    [{ host: '::1', port: 8080, allowPlaintext: true }, '[::1]:8080'],
    [{ host: '::1' }, '[::1]'],
  ] satisfies [Partial<Mapping>, string][])('names %j %s', (overrides, name) => {
    expect(new CompiledMapping(mapping(overrides)).name).toBe(name);
  });

  describe('ports', () => {
    it('defaults to 443 only', () => {
      const m = new CompiledMapping(mapping());
      expect(m.matchesHost('api.openai.com', 443)).toBe(true);
      expect(m.matchesHost('api.openai.com', 80)).toBe(false);
      expect(m.matchesHost('api.openai.com', 8443)).toBe(false);
      expect(m.matchesHost('openai.com', 443)).toBe(false);
    });

    it('uses an explicit port only', () => {
      const m = new CompiledMapping(mapping({ port: 8443 }));
      expect(m.matchesHost('api.openai.com', 8443)).toBe(true);
      expect(m.matchesHost('api.openai.com', 443)).toBe(false);
    });

    it('adds 80 for a loopback plaintext mapping without a port', () => {
      const m = new CompiledMapping(mapping({ host: 'localhost', allowPlaintext: true }));
      expect(m.allowPlaintext).toBe(true);
      expect(m.matchesHost('localhost', 443)).toBe(true);
      expect(m.matchesHost('localhost', 80)).toBe(true);
      expect(m.matchesHost('localhost', 8080)).toBe(false);
      expect(m.explain()).toMatch(/port 443 or 80/);
    });

    it('keeps an explicit port for a plaintext mapping', () => {
      const m = new CompiledMapping(
        mapping({ host: '127.0.0.1', port: 8080, allowPlaintext: true }),
      );
      expect(m.matchesHost('127.0.0.1', 8080)).toBe(true);
      expect(m.matchesHost('127.0.0.1', 80)).toBe(false);
      expect(m.matchesHost('127.0.0.1', 443)).toBe(false);
    });
  });

  it('matches paths with or without a query', () => {
    const m = new CompiledMapping(mapping({ path: '/v1/**' }));
    expect(m.matchesPath('/v1/chat')).toBe(true);
    expect(m.matchesPath('/v1/chat?stream=true')).toBe(true);
    expect(m.matchesPath('/v2/chat')).toBe(false);
    expect(m.matchesPath('/v2?x=/v1/')).toBe(false);
    expect(new CompiledMapping(mapping()).matchesPath('/anything?x=1')).toBe(true);
  });

  it('lists both refs for basic, once when they are the same', () => {
    const both = new CompiledMapping(
      mapping({ ref: 'env://PW', injector: { type: 'basic', userRef: 'env://USER' } }),
    );
    expect(both.refs).toEqual(['env://PW', 'env://USER']);
    const same = new CompiledMapping(
      mapping({ ref: 'env://PW', injector: { type: 'basic', userRef: 'env://PW' } }),
    );
    expect(same.refs).toEqual(['env://PW']);
  });

  it('derives refs from an uncompiled mapping the same way (mappingRefs)', () => {
    const basic = mapping({ ref: 'env://PW', injector: { type: 'basic', userRef: 'env://USER' } });
    expect(mappingRefs(basic)).toEqual(new CompiledMapping(basic).refs);
    expect(mappingRefs(mapping())).toEqual(['env://OPENAI_API_KEY']);
  });

  it.each([
    ['bad host', { host: 'a.*.com' }, /leftmost label/],
    ['URL host', { host: 'https://api.openai.com' }, /not a URL/],
    ['port 0', { port: 0 }, /port 0/],
    ['port 70000', { port: 70000 }, /port 70000/],
    ['relative path', { path: 'v1/**' }, /start with "\/"/],
    ['bad header', { injector: { type: 'header', name: 'host', format: '{secret}' } }, /framing/],
    ['empty ref', { ref: '' }, /ref is empty/],
    ['plaintext to a remote host', { allowPlaintext: true }, /loopback/],
    ['plaintext to a wildcard', { host: '*.example.com', allowPlaintext: true }, /loopback/],
  ] satisfies [string, Partial<Mapping>, RegExp][])('refuses %s', (_why, overrides, message) => {
    expect(() => new CompiledMapping(mapping(overrides))).toThrow(InvalidInputError);
    expect(() => new CompiledMapping(mapping(overrides))).toThrow(message);
  });

  it('explains itself without secrets', () => {
    const m = new CompiledMapping(
      mapping({ path: '/v1/**', injector: { type: 'api-key', name: 'x-api-key' } }),
    );
    expect(m.explain()).toBe(
      'api.openai.com/v1/**: host is api.openai.com, port 443, path matches /v1/**; sets x-api-key: <secret> and removes any Authorization the agent sent from env://OPENAI_API_KEY',
    );
  });
});
