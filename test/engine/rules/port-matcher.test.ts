import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/engine/errors.js';
import { PortMatcher } from '../../../src/engine/rules/port-matcher.js';

describe('PortMatcher', () => {
  it('matches only its port', () => {
    const matcher = new PortMatcher(8443);
    expect(matcher.matches(8443)).toBe(true);
    expect(matcher.matches(443)).toBe(false);
    expect(matcher.explain()).toBe('port 8443');
  });

  it.each([1, 443, 65535])('accepts %d', (port) => {
    expect(new PortMatcher(port).port).toBe(port);
  });

  it.each([0, -1, 65536, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses %d', (port) => {
    expect(() => new PortMatcher(port)).toThrow(InvalidInputError);
  });
});
