/**
 * `--connect-to HOST1:PORT1:HOST2:PORT2` (src/engine/proxy/connect-to.ts): the spec parses as
 * curl's does, a bad spec is a named InvalidInputError that quotes it, and route() dials the
 * first matching rule's destination (an empty HOST1 or PORT1 matches any).
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/engine/errors.js';
import { parseConnectTo, UpstreamRoutes } from '../../../src/engine/proxy/connect-to.js';

describe('parseConnectTo', () => {
  it('parses all four parts, canonicalising host names', () => {
    expect(parseConnectTo('API.OpenAI.com.:443:127.0.0.1:8443')).toEqual({
      fromHost: 'api.openai.com',
      fromPort: 443,
      toHost: '127.0.0.1',
      toPort: 8443,
    });
  });

  it('leaves an empty HOST1 or PORT1 as "any"', () => {
    expect(parseConnectTo('::localhost:9000')).toEqual({
      fromHost: undefined,
      fromPort: undefined,
      toHost: 'localhost',
      toPort: 9000,
    });
    expect(parseConnectTo('api.example.com::127.0.0.1:1')).toMatchObject({
      fromHost: 'api.example.com',
      fromPort: undefined,
    });
  });

  it('takes bracketed IPv6 on either side and stores it unbracketed, RFC 5952 form', () => {
    expect(parseConnectTo('[2001:DB8:0:0::1]:443:[::1]:8443')).toEqual({
      fromHost: '2001:db8::1',
      fromPort: 443,
      toHost: '::1',
      toPort: 8443,
    });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['too few parts', 'api.example.com:443:127.0.0.1', /expected HOST1:PORT1:HOST2:PORT2/],
    ['unbracketed IPv6', '::1:443:::1:8443', /expected HOST1:PORT1:HOST2:PORT2/],
    ['a missing destination port', 'a.example.com:443:127.0.0.1:', /expected HOST1/],
    ['a non-numeric port', 'a.example.com:https:127.0.0.1:1', /expected HOST1/],
    ['an empty destination host', 'a.example.com:443::8443', /the destination host is empty/],
    ['destination port 0', 'a.example.com:443:127.0.0.1:0', /port 0 is not between 1 and 65535/],
    ['source port 65536', 'a.example.com:65536:127.0.0.1:1', /port 65536 is not between/],
    ['a host that is no name', 'bad_host!:443:127.0.0.1:1', /"bad_host!" is not a host name/],
    ['a bracketed non-address', '[::zz]:443:127.0.0.1:1', /expected HOST1/],
    ['brackets round a bad IPv6', '[1:2:3]:443:127.0.0.1:1', /"\[1:2:3\]" is not a host name/],
  ];
  it.each(bad)('refuses %s with a named error quoting the spec', (_what, spec, message) => {
    let caught: unknown;
    try {
      parseConnectTo(spec);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidInputError);
    const error = caught as InvalidInputError;
    expect(error.message).toContain(`--connect-to ${spec}`);
    expect(error.message).toMatch(message);
  });
});

describe('UpstreamRoutes', () => {
  it('dials the request’s own host and port when there are no rules', () => {
    const routes = new UpstreamRoutes();
    expect(routes.route('api.example.com', 443)).toEqual({ host: 'api.example.com', port: 443 });
    expect(routes.explain()).toBe('no --connect-to routes');
  });

  it('matches host and port exactly, first matching rule winning', () => {
    const routes = UpstreamRoutes.parse([
      'api.example.com:443:127.0.0.1:1001',
      'api.example.com::127.0.0.1:1002',
      ':8080:127.0.0.1:1003',
      '::[::1]:1004',
    ]);
    expect(routes.route('api.example.com', 443)).toEqual({ host: '127.0.0.1', port: 1001 });
    expect(routes.route('api.example.com', 8443)).toEqual({ host: '127.0.0.1', port: 1002 });
    expect(routes.route('other.example.com', 8080)).toEqual({ host: '127.0.0.1', port: 1003 });
    expect(routes.route('other.example.com', 443)).toEqual({ host: '::1', port: 1004 });
  });

  it('falls through to the original destination when nothing matches', () => {
    const routes = UpstreamRoutes.parse(['api.example.com:443:127.0.0.1:1001']);
    expect(routes.route('api.example.com', 80)).toEqual({ host: 'api.example.com', port: 80 });
    expect(routes.route('x.example.com', 443)).toEqual({ host: 'x.example.com', port: 443 });
  });

  it('routes a rule written with an IPv6 source for the canonical address', () => {
    const routes = UpstreamRoutes.parse(['[0:0::1]:443:127.0.0.1:1001']);
    expect(routes.route('::1', 443)).toEqual({ host: '127.0.0.1', port: 1001 });
  });

  it('explains its rules, with * for "any"', () => {
    const routes = UpstreamRoutes.parse(['api.example.com:443:127.0.0.1:1001', '::[::1]:1004']);
    expect(routes.explain()).toBe('api.example.com:443 → 127.0.0.1:1001, *:* → ::1:1004');
  });

  it('refuses the whole set when one spec is bad', () => {
    expect(() => UpstreamRoutes.parse(['a.example.com:443:127.0.0.1:1', 'nope'])).toThrow(
      InvalidInputError,
    );
  });
});
