import { describe, expect, it } from 'vitest';
import {
  canonicalHost,
  isLoopbackHost,
  parseAuthority,
} from '../../../src/engine/rules/host-name.js';

describe('canonicalHost', () => {
  it.each([
    ['api.openai.com', 'api.openai.com'],
    ['API.OpenAI.com', 'api.openai.com'],
    ['api.openai.com.', 'api.openai.com'],
    ['API.OpenAI.com.', 'api.openai.com'],
    ['localhost', 'localhost'],
    ['a', 'a'],
    ['3com.com', '3com.com'],
    ['a-b.c-d.example', 'a-b.c-d.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.example.', 'xn--bcher-kva.example'],
    ['例え.jp', 'xn--r8jz45g.jp'],
    ['1.2.3.4', '1.2.3.4'],
    ['127.0.0.1', '127.0.0.1'],
    ['255.255.255.255', '255.255.255.255'],
    ['1.2.3.4.', '1.2.3.4'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[0:0:0:0:0:0:0:1]', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['[2001:0db8:0000:0000:0000:0000:0000:0001]', '2001:db8::1'],
    ['::ffff:127.0.0.1', '::ffff:7f00:1'],
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
  ])('%s → %s', (input, expected) => {
    expect(canonicalHost(input)).toBe(expected);
  });

  const longest = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  it('accepts 253 characters and refuses 254', () => {
    expect(longest).toHaveLength(253);
    expect(canonicalHost(longest)).toBe(longest);
    expect(canonicalHost(`${longest}.`)).toBe(longest);
    expect(canonicalHost(`x${longest}`)).toBeUndefined();
  });

  it.each([
    ['empty', ''],
    ['only a dot', '.'],
    ['two trailing dots', 'example.com..'],
    ['leading dot', '.example.com'],
    ['empty label', 'a..b'],
    ['label of 64', `${'a'.repeat(64)}.com`],
    ['underscore', 'my_host.example'],
    ['space', 'api openai.com'],
    ['leading space', ' api.openai.com'],
    ['leading hyphen', '-a.example'],
    ['trailing hyphen', 'a-.example'],
    ['wildcard', '*.example.com'],
    ['percent', 'a%2e.com'],
    ['slash', 'api.openai.com/'],
    ['URL', 'https://api.openai.com'],
    ['userinfo', 'user@host'],
    ['with port', 'api.openai.com:443'],
    ['IPv4 with port', '1.2.3.4:443'],
    ['bracketed name', '[example.com]'],
    ['unbalanced bracket', '[::1'],
    ['IPv6 zone', 'fe80::1%eth0'],
    ['bracketed IPv6 with port', '[::1]:443'],
    ['octet > 255', '256.1.1.1'],
    ['leading zero octet', '01.2.3.4'],
    ['three-part IPv4', '127.0.1'],
    ['two-part IPv4', '127.1'],
    ['single number', '2130706433'],
    ['hex IPv4', '0x7f.0.0.1'],
    ['numeric last label', 'example.123'],
    ['fullwidth dots with bad label', 'ex ample.ü'],
    ['NUL', 'a\u0000.com'],
    ['newline', 'a.com\n'],
  ])('refuses %s', (_why, input) => {
    expect(canonicalHost(input)).toBeUndefined();
  });

  it('converts fullwidth digits in an IDN input to a plain IPv4 address', () => {
    expect(canonicalHost('１２７.0.0.1')).toBe('127.0.0.1');
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['localhost', true],
    ['LOCALHOST.', true],
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['foo.localhost', false],
    ['localhost.example.com', false],
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['0.0.0.0', false],
    ['::', false],
    ['::ffff:10.0.0.1', false],
    ['127.1', false],
    ['api.openai.com', false],
    ['', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('parseAuthority', () => {
  it.each([
    ['api.openai.com:443', { requirePort: true }, { host: 'api.openai.com', port: 443 }],
    ['API.OpenAI.com.:8443', { requirePort: true }, { host: 'api.openai.com', port: 8443 }],
    ['bücher.example:443', { requirePort: true }, { host: 'xn--bcher-kva.example', port: 443 }],
    ['1.2.3.4:1', { requirePort: true }, { host: '1.2.3.4', port: 1 }],
    ['host:65535', { requirePort: true }, { host: 'host', port: 65535 }],
    ['[::1]:443', { requirePort: true }, { host: '::1', port: 443 }],
    ['[2001:DB8::1]:8080', { requirePort: true }, { host: '2001:db8::1', port: 8080 }],
    ['api.openai.com', { defaultPort: 443 }, { host: 'api.openai.com', port: 443 }],
    ['[::1]', { defaultPort: 80 }, { host: '::1', port: 80 }],
    ['example.com:8080', { defaultPort: 80 }, { host: 'example.com', port: 8080 }],
    ['example.com:0443', { defaultPort: 80 }, { host: 'example.com', port: 443 }],
  ])('%s %j → %j', (input, options, expected) => {
    expect(parseAuthority(input, options)).toEqual(expected);
  });

  it.each([
    ['no port when required', 'api.openai.com', { requirePort: true, defaultPort: 443 }],
    ['no port and no default', 'api.openai.com', {}],
    ['bracketed v6 without port when required', '[::1]', { requirePort: true }],
    ['port 0', 'host:0', { requirePort: true }],
    ['port 65536', 'host:65536', { requirePort: true }],
    ['huge port', 'host:99999999999', { requirePort: true }],
    ['empty port', 'host:', { defaultPort: 443 }],
    ['negative port', 'host:-1', { requirePort: true }],
    ['signed port', 'host:+443', { requirePort: true }],
    ['port with space', 'host: 443', { requirePort: true }],
    ['hex port', 'host:0x1bb', { requirePort: true }],
    ['decimal port', 'host:443.0', { requirePort: true }],
    ['userinfo', 'user@host:443', { requirePort: true }],
    ['userinfo with password', 'user:pw@host:443', { requirePort: true }],
    ['empty', '', { defaultPort: 443 }],
    ['empty host', ':443', { requirePort: true }],
    ['empty brackets', '[]:443', { requirePort: true }],
    ['name in brackets', '[example.com]:443', { requirePort: true }],
    ['IPv4 in brackets', '[1.2.3.4]:443', { requirePort: true }],
    ['unclosed bracket', '[::1:443', { requirePort: true }],
    ['stray closing bracket', '::1]:443', { requirePort: true }],
    ['junk after bracket', '[::1]x443', { requirePort: true }],
    ['unbracketed IPv6', '::1', { defaultPort: 443 }],
    ['unbracketed IPv6 with port', '2001:db8::1:443', { requirePort: true }],
    ['two ports', 'host:443:443', { requirePort: true }],
    ['invalid host', 'bad_host:443', { requirePort: true }],
    ['path', 'host:443/x', { requirePort: true }],
    ['space in host', 'a b:443', { requirePort: true }],
  ])('refuses %s', (_why, input, options) => {
    expect(parseAuthority(input, options)).toBeUndefined();
  });
});
