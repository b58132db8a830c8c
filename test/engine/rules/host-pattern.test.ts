import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/engine/errors.js';
import { HostMatcher } from '../../../src/engine/rules/host-pattern.js';

describe('HostMatcher', () => {
  it.each([
    ['api.openai.com', 'api.openai.com'],
    ['API.OpenAI.com.', 'api.openai.com'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['*.example.com', '*.example.com'],
    ['*.Example.COM.', '*.example.com'],
    ['*.bücher.example', '*.xn--bcher-kva.example'],
    ['127.0.0.1', '127.0.0.1'],
    ['localhost', 'localhost'],
    ['::1', '::1'],
    ['[::1]', '::1'],
  ])('normalises %s to %s', (input, pattern) => {
    expect(new HostMatcher(input).pattern).toBe(pattern);
  });

  it.each([
    ['', /empty/],
    ['*', /bare "\*"/],
    ['*.', /bare "\*"/],
    ['a.*.com', /leftmost label/],
    ['*.*.example.com', /leftmost label/],
    ['foo.*', /leftmost label/],
    ['*example.com', /whole label/],
    ['*-api.example.com', /whole label/],
    ['1.2.3.4:443', /port/],
    ['api.openai.com:443', /port/],
    ['[::1]:443', /port/],
    ['[::1', /without its pair/],
    ['::1]', /without its pair/],
    ['api openai.com', /whitespace/],
    [' api.openai.com', /whitespace/],
    ['https://api.openai.com', /not a URL/],
    ['api.openai.com/v1', /not a URL/],
    ['user@api.openai.com', /user name/],
    ['*.com', /top-level domain/],
    ['*.1.2.3.4', /not an IP address/],
    ['*.bad_label.com', /not a valid host name/],
    ['bad_label.com', /not a valid host name/],
    ['256.1.1.1', /not a valid host name/],
    [`${'a'.repeat(64)}.com`, /not a valid host name/],
  ])('refuses %j', (input, message) => {
    expect(() => new HostMatcher(input)).toThrow(InvalidInputError);
    expect(() => new HostMatcher(input)).toThrow(message);
  });

  describe('exact', () => {
    const matcher = new HostMatcher('api.openai.com');
    it.each([
      ['api.openai.com', true],
      ['openai.com', false],
      ['x.api.openai.com', false],
      ['api.openai.com.evil.com', false],
      ['xapi.openai.com', false],
    ])('%s → %s', (host, expected) => {
      expect(matcher.matches(host)).toBe(expected);
    });
  });

  describe('wildcard', () => {
    const matcher = new HostMatcher('*.example.com');
    it.each([
      ['api.example.com', true],
      ['a.b.example.com', true],
      ['x.y.z.example.com', true],
      ['example.com', false],
      ['badexample.com', false],
      ['.example.com', false],
      ['example.com.evil.com', false],
      ['api.example.org', false],
    ])('%s → %s', (host, expected) => {
      expect(matcher.matches(host)).toBe(expected);
    });
  });

  it('ranks exact above any wildcard and a longer suffix above a shorter one', () => {
    const exact = new HostMatcher('a.b.example.com');
    const long = new HostMatcher('*.b.example.com');
    const short = new HostMatcher('*.example.com');
    expect(exact.specificity).toBeGreaterThan(long.specificity);
    expect(long.specificity).toBeGreaterThan(short.specificity);
    expect(
      new HostMatcher(`*.${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.com`).specificity,
    ).toBeLessThan(new HostMatcher('a.co').specificity);
  });

  it('explains itself', () => {
    expect(new HostMatcher('api.openai.com').explain()).toBe('host is api.openai.com');
    expect(new HostMatcher('*.example.com').explain()).toMatch(
      /any subdomain of example\.com.*not example\.com itself/,
    );
  });
});
