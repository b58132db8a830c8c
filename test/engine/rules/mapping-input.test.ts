import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/engine/errors.js';
import { buildMapping, type MappingInput } from '../../../src/engine/rules/mapping-input.js';
import { RuleTable } from '../../../src/engine/rules/rule-table.js';
import { PRESETS } from '../../../src/shared/presets.js';

/** Accepts env:// and op:// refs, like the real sources' offline checks. */
function validateRef(ref: string): { ok: boolean; reason?: string } {
  return /^(env|op):\/\/\S+$/.test(ref)
    ? { ok: true }
    : { ok: false, reason: 'must start with env:// or op://' };
}

function build(input: Partial<MappingInput>) {
  return buildMapping({ host: 'api.example.com', ref: 'env://KEY', ...input }, validateRef);
}

describe('buildMapping', () => {
  it('defaults to bearer', () => {
    expect(build({})).toEqual({
      host: 'api.example.com',
      ref: 'env://KEY',
      injector: { type: 'bearer' },
    });
  });

  it('uses the preset whose host was given', () => {
    expect(build({ host: 'api.anthropic.com' })).toEqual({
      host: 'api.anthropic.com',
      ref: 'env://KEY',
      injector: { type: 'api-key', name: 'x-api-key' },
      preset: 'anthropic',
    });
    expect(build({ host: 'API.Anthropic.com.' }).preset).toBe('anthropic');
  });

  it('uses a named preset, on its host or another', () => {
    expect(build({ host: 'api.openai.com', preset: 'openai' })).toMatchObject({
      injector: { type: 'bearer' },
      preset: 'openai',
    });
    expect(build({ host: 'gemini-proxy.internal.example', preset: 'google-ai' })).toMatchObject({
      host: 'gemini-proxy.internal.example',
      injector: { type: 'api-key', name: 'x-goog-api-key' },
      preset: 'google-ai',
    });
  });

  it('does not share the preset object', () => {
    const mapping = build({ host: 'api.anthropic.com' });
    expect(mapping.injector).not.toBe(PRESETS.anthropic?.injector);
  });

  it('lets an explicit injector override a preset host', () => {
    const mapping = build({ host: 'api.anthropic.com', bearer: true });
    expect(mapping.injector).toEqual({ type: 'bearer' });
    expect(mapping.preset).toBeUndefined();
  });

  it.each([
    [{ bearer: true }, { type: 'bearer' }],
    [{ header: 'X-Token' }, { type: 'header', name: 'X-Token', format: '{secret}' }],
    [
      { header: 'X-Token', format: 'Token {secret}' },
      { type: 'header', name: 'X-Token', format: 'Token {secret}' },
    ],
    [{ apiKeyHeader: 'x-api-key' }, { type: 'api-key', name: 'x-api-key' }],
    [{ basicUserRef: 'env://USER' }, { type: 'basic', userRef: 'env://USER' }],
    // Without a scheme, the user is literal: GitHub's git endpoints take `x-access-token:<token>`.
    [{ basicUserRef: 'x-access-token' }, { type: 'basic-user', user: 'x-access-token' }],
    [{ query: 'key' }, { type: 'query', param: 'key' }],
  ] satisfies [Partial<MappingInput>, unknown][])('builds %j', (input, injector) => {
    expect(build(input).injector).toEqual(injector);
  });

  it.each([
    ['API.Example.COM.', { host: 'api.example.com' }],
    ['bücher.example', { host: 'xn--bcher-kva.example' }],
    ['*.Example.com', { host: '*.example.com' }],
    ['  api.example.com ', { host: 'api.example.com' }],
    ['api.example.com:8443', { host: 'api.example.com', port: 8443 }],
    ['*.example.com:8443', { host: '*.example.com', port: 8443 }],
    ['1.2.3.4:8443', { host: '1.2.3.4', port: 8443 }],
    ['1.2.3.4', { host: '1.2.3.4' }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
    ['[2001:DB8::1]', { host: '2001:db8::1' }],
    ['2001:db8::1', { host: '2001:db8::1' }],
  ])('normalises host %j', (host, expected) => {
    expect(build({ host })).toMatchObject(expected);
  });

  it('keeps optional fields only when given', () => {
    expect(
      build({
        host: 'localhost:8080',
        path: '/v1/**',
        account: ' my.1password.com ',
        allowPlaintext: true,
      }),
    ).toEqual({
      host: 'localhost',
      port: 8080,
      path: '/v1/**',
      ref: 'env://KEY',
      injector: { type: 'bearer' },
      account: 'my.1password.com',
      allowPlaintext: true,
    });
    expect(build({ account: '', allowPlaintext: false })).not.toHaveProperty('account');
    expect(build({ allowPlaintext: false })).not.toHaveProperty('allowPlaintext');
  });

  it('accepts a port given twice when both agree', () => {
    expect(build({ host: 'api.example.com:8443', port: 8443 }).port).toBe(8443);
  });

  it.each([
    ['empty host', { host: '' }, /^host is empty$/],
    ['blank host', { host: '   ' }, /^host is empty$/],
    ['URL', { host: 'https://api.openai.com/' }, /pass only the host name: api\.openai\.com/],
    [
      'URL with path',
      { host: 'https://api.openai.com/v1/chat' },
      /pass only the host name: api\.openai\.com/,
    ],
    ['host with path', { host: 'api.openai.com/v1' }, /pass only the host name/],
    ['bare wildcard', { host: '*' }, /bare "\*"/],
    ['wildcard in the middle', { host: 'a.*.com' }, /leftmost label/],
    ['wildcard at the end', { host: 'foo.*' }, /leftmost label/],
    ['wildcard glued to a label', { host: '*example.com' }, /whole label/],
    ['wildcard over a TLD', { host: '*.com' }, /top-level domain/],
    ['space in host', { host: 'api example.com' }, /whitespace/],
    ['underscore', { host: 'my_api.example.com' }, /not a valid host name/],
    ['userinfo', { host: 'user@api.example.com' }, /user name/],
    [
      'IP with port out of range',
      { host: '1.2.3.4:99999' },
      /port "99999" is not a number from 1 to 65535/,
    ],
    ['port 0 in host', { host: 'api.example.com:0' }, /port "0"/],
    ['empty port in host', { host: 'api.example.com:' }, /port ""/],
    ['non-numeric port in host', { host: 'api.example.com:https' }, /port "https"/],
    ['conflicting ports', { host: 'api.example.com:8443', port: 9443 }, /give the port once/],
    ['port 0', { port: 0 }, /port 0/],
    ['port 65536', { port: 65536 }, /port 65536/],
    ['fractional port', { port: 1.5 }, /port 1.5/],
    ['unclosed bracket', { host: '[::1' }, /without a closing/],
    ['junk after bracket', { host: '[::1]x' }, /after "\]"/],
    ['name in brackets', { host: '[example.com]' }, /not a valid host name/],
    ['empty ref', { ref: '' }, /^ref is empty$/],
    [
      'invalid ref',
      { ref: 'sk-live-123' },
      // No scheme: likely a pasted key, so the message must not repeat it.
      /^ref \(not shown: it has no scheme:\/\/, so it may be a key\): must start with env:\/\/ or op:\/\/$/,
    ],
    ['two injectors', { bearer: true, header: 'x-key' }, /choose one .* \(got bearer, header\)/],
    [
      'three injectors',
      { preset: 'openai', query: 'key', apiKeyHeader: 'x' },
      /not 3 \(got preset, api-key header, query\)/,
    ],
    [
      'unknown preset',
      { preset: 'nope' },
      /unknown preset "nope"; known presets: anthropic, openai, github/,
    ],
    ['format without header', { format: 'Token {secret}' }, /format applies only to a header/],
    ['format without {secret}', { header: 'x-key', format: 'Token' }, /must contain \{secret\}/],
    ['empty header name', { header: '' }, /header name is empty/],
    ['forbidden header', { header: 'Host' }, /framing/],
    ['invalid header name', { header: 'x key' }, /not a valid HTTP field name/],
    ['forbidden api-key header', { apiKeyHeader: 'content-length' }, /framing/],
    ['empty api-key header', { apiKeyHeader: '' }, /api-key header name is empty/],
    ['empty basic user ref', { basicUserRef: '' }, /basic user ref is empty/],
    [
      'invalid basic user ref',
      { basicUserRef: 'vault://alice' },
      /^basic user ref .*must start with env:\/\/ or op:\/\//,
    ],
    ['a literal user with ":"', { basicUserRef: 'a:b' }, /may not contain ":"/],
    ['a literal user with a space', { basicUserRef: 'a b' }, /only visible ASCII/],
    [
      'a pasted key as the literal user (never echoed)',
      { basicUserRef: 'ghp_0123456789abcdefghij' },
      /^that basic-auth user looks like a secret.*pass a reference instead[^0-9]*$/,
    ],
    ['empty query param', { query: '' }, /query parameter name is empty/],
    ['relative path', { path: 'v1/**' }, /must start with "\/"/],
    ['path with query', { path: '/v1?x=1' }, /without a query/],
    ['bad globstar', { path: '/v1/**.json' }, /whole segment/],
    ['plaintext to a remote host', { allowPlaintext: true }, /only allowed for loopback/],
    [
      'plaintext to a wildcard',
      { host: '*.example.com', allowPlaintext: true },
      /only allowed for loopback/,
    ],
  ] satisfies [string, Partial<MappingInput>, RegExp][])('refuses %s', (_why, input, message) => {
    expect(() => build(input)).toThrow(InvalidInputError);
    expect(() => build(input)).toThrow(message);
  });

  it('allows plaintext for loopback hosts', () => {
    for (const host of ['localhost', '127.0.0.1', '127.0.0.2:3000', '[::1]:8080', '::1']) {
      expect(build({ host, allowPlaintext: true }).allowPlaintext).toBe(true);
    }
  });

  it('builds mappings a RuleTable loads', () => {
    const table = new RuleTable([
      build({ host: 'api.openai.com' }),
      build({ host: 'api.anthropic.com', path: '/v1/**' }),
      build({ host: '*.example.com:8443', basicUserRef: 'env://USER' }),
      build({ host: 'localhost:3000', allowPlaintext: true, query: 'key' }),
    ]);
    expect(table.match('api.anthropic.com', 443, '/v1/messages')?.config.injector.type).toBe(
      'api-key',
    );
    expect(table.match('x.example.com', 8443, '/')?.refs).toEqual(['env://KEY', 'env://USER']);
    expect(table.match('localhost', 3000, '/')?.allowPlaintext).toBe(true);
  });
});
