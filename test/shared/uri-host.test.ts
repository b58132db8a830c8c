import { describe, expect, it } from 'vitest';
import { authorityText, bareHost, uriHost } from '../../src/shared/uri-host.js';

describe('uri-host: IPv6 literals in brackets (RFC 3986 §3.2.2)', () => {
  it.each([
    ['api.openai.com', 'api.openai.com', 'api.openai.com'],
    ['*.example.com', '*.example.com', '*.example.com'],
    ['127.0.0.1', '127.0.0.1', '127.0.0.1'],
    ['::1', '[::1]', '::1'],
    ['2001:db8::1', '[2001:db8::1]', '2001:db8::1'],
    ['::ffff:7f00:1', '[::ffff:7f00:1]', '::ffff:7f00:1'],
  ])('%s: uriHost brackets only IPv6, bareHost undoes it', (bare, uri, back) => {
    expect(uriHost(bare)).toBe(uri);
    expect(bareHost(uri)).toBe(back);
    expect(bareHost(bare)).toBe(bare);
  });

  it.each(['[::1', '::1]', '[', ']', ''])(
    'bareHost leaves a half-bracketed %j as it is',
    (text) => {
      expect(bareHost(text)).toBe(text);
    },
  );

  it.each([
    ['api.openai.com', 443, 443, 'api.openai.com'],
    ['api.openai.com', 8443, 443, 'api.openai.com:8443'],
    ['::1', 80, 80, '[::1]'],
    ['::1', 8080, 80, '[::1]:8080'],
    ['127.0.0.1', 443, 80, '127.0.0.1:443'],
  ])('authorityText(%s, %d, default %d) is %s', (host, port, defaultPort, text) => {
    expect(authorityText(host, port, defaultPort)).toBe(text);
  });
});
