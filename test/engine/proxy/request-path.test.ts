/**
 * normaliseRequestPath (src/engine/proxy/request-path.ts): RFC 3986 §5.2.4 dot-segment removal
 * and §6.2.2 percent-encoding normalisation, and the paths servers disagree on.
 */
import { describe, expect, it } from 'vitest';
import { normaliseRequestPath } from '../../../src/engine/proxy/request-path.js';

describe('normaliseRequestPath', () => {
  it.each([
    ['/', '/'],
    ['/v1/models', '/v1/models'],
    ['/v1/models?x=../y', '/v1/models?x=../y'],
    ['/v1/../admin', '/admin'],
    ['/v1/./a/./b', '/v1/a/b'],
    ['/v1/a/..', '/v1/'],
    ['/v1/a/.', '/v1/a/'],
    ['/..', '/'],
    ['/../../etc', '/etc'],
    ['/v1/%2e%2e/admin', '/admin'],
    ['/v1/%2E%2e/admin', '/admin'],
    ['/v1/.%2e/admin', '/admin'],
    ['/v1/%2e/x', '/v1/x'],
    ['/v1/%7euser', '/v1/~user'],
    ['/v1/a%2db', '/v1/a-b'],
    ['/v1/%e2%82%ac', '/v1/%E2%82%AC'],
    ['/v1/100%', '/v1/100%'],
    ['/v1/%zz', '/v1/%zz'],
    ['/v1/...', '/v1/...'],
    ['/v1/a;b', '/v1/a;b'],
    ['/v1//x', '/v1//x'],
  ])('%s → %s', (input, expected) => {
    expect(normaliseRequestPath(input)).toEqual({ ok: true, path: expected });
  });

  it.each([
    ['/v1/..%2fadmin', /encoded "\/"/],
    ['/v1/..%2Fadmin', /encoded "\/"/],
    ['/v1/..%5cadmin', /encoded/],
    ['/v1\\..\\admin', /"\\"/],
    ['/v1/..;/admin', /dot segment with parameters/],
    ['/v1/.;x/admin', /dot segment with parameters/],
    ['http://host/x', /not an origin-form path/],
    ['*', /not an origin-form path/],
  ])('%s is ambiguous', (input, reason) => {
    const result = normaliseRequestPath(input);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(reason);
  });

  it('returns the very string it was given when there is nothing to normalise', () => {
    const input = '/v1/chat/completions?stream=true';
    const result = normaliseRequestPath(input);
    expect(result.ok && result.path).toBe(input);
  });
});
