import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/engine/errors.js';
import { PathMatcher } from '../../../src/engine/rules/path-matcher.js';

describe('PathMatcher', () => {
  it.each([
    // ** at the end: the prefix itself, and anything below it.
    ['/v1/**', '/v1', true],
    ['/v1/**', '/v1/', true],
    ['/v1/**', '/v1/chat', true],
    ['/v1/**', '/v1/chat/completions', true],
    ['/v1/**', '/v1?x=1', true],
    ['/v1/**', '/v1/chat?x=/y', true],
    ['/v1/**', '/v10', false],
    ['/v1/**', '/v10/chat', false],
    ['/v1/**', '/v2/chat', false],
    ['/v1/**', '/V1/chat', false],
    ['/v1/**', '/x/v1/chat', false],
    ['/**', '/', true],
    ['/**', '/anything/at/all', true],
    // * stays within one segment.
    ['/v1/*', '/v1/chat', true],
    ['/v1/*', '/v1/', true],
    ['/v1/*', '/v1/chat/completions', false],
    ['/v1/*', '/v1', false],
    ['/v1/*/completions', '/v1/chat/completions', true],
    ['/v1/*/completions', '/v1/a/b/completions', false],
    ['/files/*.json', '/files/a.json', true],
    ['/files/*.json', '/files/a.json?download=1', true],
    ['/files/*.json', '/files/ajson', false],
    ['/files/*.json', '/files/a/b.json', false],
    ['/*/models', '/v1/models', true],
    // ** in the middle: zero or more segments.
    ['/a/**/b', '/a/b', true],
    ['/a/**/b', '/a/x/b', true],
    ['/a/**/b', '/a/x/y/b', true],
    ['/a/**/b', '/a/xb', false],
    ['/a/**/b', '/a/x/yb', false],
    ['/a/**/**/b', '/a/x/y/b', true],
    // Literal paths.
    ['/', '/', true],
    ['/', '/x', false],
    ['/', '/?q=1', true],
    ['/v1/models', '/v1/models', true],
    ['/v1/models', '/v1/models/', false],
    ['/v1/models', '/v1/models?limit=5', true],
    // Regex metacharacters are literal.
    ['/a.b', '/a.b', true],
    ['/a.b', '/axb', false],
    ['/a+(b)', '/a+(b)', true],
    ['/a+(b)', '/aa(b)', false],
    ['/[x]', '/[x]', true],
    ['/[x]', '/x', false],
    ['/$x^', '/$x^', true],
    // Raw bytes: no percent-decoding.
    ['/v1/**', '/%761/chat', false],
  ])('%s vs %s → %s', (glob, path, expected) => {
    expect(new PathMatcher(glob).matches(path)).toBe(expected);
  });

  it.each([
    ['', /start with/],
    ['v1/**', /start with/],
    ['*/x', /start with/],
    ['/v1 /x', /whitespace/],
    ['/v1?x=1', /query/],
    ['/v1#frag', /"#"/],
    ['/v1\n', /control/],
    ['/v1/**.json', /whole segment/],
    ['/a**', /whole segment/],
  ])('refuses %j', (glob, message) => {
    expect(() => new PathMatcher(glob)).toThrow(InvalidInputError);
    expect(() => new PathMatcher(glob)).toThrow(message);
  });

  it('ranks literal paths above globs, and longer literals above shorter', () => {
    const exact = new PathMatcher('/v1/chat/completions');
    const chat = new PathMatcher('/v1/chat/**');
    const v1 = new PathMatcher('/v1/**');
    const longerGlob = new PathMatcher('/v1/chat/completions/**');
    expect(exact.specificity).toBeGreaterThan(longerGlob.specificity);
    expect(chat.specificity).toBeGreaterThan(v1.specificity);
  });

  it('explains itself', () => {
    expect(new PathMatcher('/v1/**').explain()).toBe('path matches /v1/**');
  });

  it('stays fast on long paths', () => {
    const matcher = new PathMatcher('/a/**/b/**/c/*x*y*');
    const path = `/a/${'b/'.repeat(2000)}${'c'.repeat(2000)}`;
    const started = performance.now();
    expect(matcher.matches(path)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
