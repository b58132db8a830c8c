import { describe, expect, it } from 'vitest';
import { authorityText, bareHost, splitAuthority, uriHost } from '../../src/shared/uri-host.js';

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

  it.each([
    ['api.openai.com', { host: 'api.openai.com', port: undefined, problem: undefined }],
    ['api.openai.com:443', { host: 'api.openai.com', port: '443', problem: undefined }],
    ['api.openai.com:', { host: 'api.openai.com', port: '', problem: undefined }],
    ['127.0.0.1:8080', { host: '127.0.0.1', port: '8080', problem: undefined }],
    ['[::1]', { host: '[::1]', port: undefined, problem: undefined }],
    ['[::1]:8443', { host: '[::1]', port: '8443', problem: undefined }],
    ['[::1]:', { host: '[::1]', port: '', problem: undefined }],
    // Only a bare IPv6 address has several colons: all of it is host; callers decide.
    ['::1', { host: '::1', port: undefined, problem: undefined }],
    ['2001:db8::1', { host: '2001:db8::1', port: undefined, problem: undefined }],
    ['', { host: '', port: undefined, problem: undefined }],
    ['[::1', { host: '', port: undefined, problem: { kind: 'unclosed-bracket', text: '[::1' } }],
    ['[::1]x', { host: '', port: undefined, problem: { kind: 'after-bracket', text: 'x' } }],
    ['[::1]]:80', { host: '', port: undefined, problem: { kind: 'after-bracket', text: ']:80' } }],
  ])('splitAuthority(%j)', (input, parts) => {
    expect(splitAuthority(input)).toEqual(parts);
  });
});
