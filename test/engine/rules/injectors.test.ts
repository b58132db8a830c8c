import { describe, expect, it } from 'vitest';
import { InvalidInputError, KeygateError } from '../../../src/engine/errors.js';
import { createInjector, type InjectionTarget } from '../../../src/engine/rules/injectors/index.js';
import { Secret } from '../../../src/engine/secrets/secret.js';

function target(
  headers: InjectionTarget['headers'] = {},
  path = '/v1/chat/completions',
): InjectionTarget {
  return { headers: { ...headers }, path };
}

const BAD_VALUES: [string, string][] = [
  ['CR', 'sk-abc\rx-evil: 1'],
  ['LF', 'sk-abc\nx-evil: 1'],
  ['CRLF', 'sk-abc\r\nx-evil: 1'],
  ['trailing newline', 'sk-abc\n'],
  ['NUL', 'sk-\u0000abc'],
  ['other control', 'sk-\u0007abc'],
  ['DEL', 'sk-\u007fabc'],
  ['non-Latin-1', 'sk-€abc'],
];

/** Base64 and percent-encoding carry any Unicode; only control characters are refused there. */
const BAD_ENCODED_VALUES = BAD_VALUES.filter(([why]) => why !== 'non-Latin-1');

const SECRET_MARKER = 'sk-abc';

function expectRefused(run: () => void): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(KeygateError);
  const message = (thrown as Error).message;
  expect(message).toMatch(/can't be used/);
  // Never echo the value, not even part of it.
  expect(message).not.toContain(SECRET_MARKER);
  expect(message).not.toContain('x-evil');
}

describe('bearer', () => {
  const injector = createInjector({ type: 'bearer' });

  it('sets Authorization', () => {
    const t = target();
    injector.apply(t, { primary: new Secret('sk-real') });
    expect(t.headers).toEqual({ authorization: 'Bearer sk-real' });
    expect(injector.explain()).toMatch(/Authorization: Bearer <secret>/);
  });

  it.each([
    ['lower-case key', { authorization: 'Bearer keygate-placeholder' }],
    ['mixed-case key', { Authorization: 'bearer keygate-placeholder' }],
    ['upper-case key', { AUTHORIZATION: 'BEARER keygate-placeholder' }],
    ['several spellings', { authorization: 'Bearer a', Authorization: 'Bearer b' }],
    ['array value', { authorization: ['Bearer a', 'Bearer b'] }],
    ['other scheme', { authorization: 'Basic Zm9vOmJhcg==' }],
  ])('replaces a placeholder (%s)', (_why, headers) => {
    const t = target({ ...headers, accept: 'application/json' });
    injector.apply(t, { primary: new Secret('sk-real') });
    expect(t.headers).toEqual({ authorization: 'Bearer sk-real', accept: 'application/json' });
  });

  it('leaves the path alone', () => {
    const t = target({}, '/v1/x?key=1');
    injector.apply(t, { primary: new Secret('sk-real') });
    expect(t.path).toBe('/v1/x?key=1');
  });

  it.each(BAD_VALUES)('refuses a secret with %s', (_why, value) => {
    const t = target({ authorization: 'Bearer placeholder' });
    expectRefused(() => injector.apply(t, { primary: new Secret(value) }));
  });

  it('refuses an empty secret', () => {
    expect(() => injector.apply(target(), { primary: new Secret('') })).toThrow(/empty/);
  });
});

describe('header', () => {
  it('renders the format', () => {
    const injector = createInjector({
      type: 'header',
      name: 'X-Auth-Token',
      format: 'Token {secret}',
    });
    const t = target({ 'x-auth-token': 'Token placeholder', 'X-AUTH-TOKEN': 'other' });
    injector.apply(t, { primary: new Secret('s3cret') });
    expect(t.headers).toEqual({ 'x-auth-token': 'Token s3cret' });
    expect(injector.explain()).toBe(
      'sets x-auth-token: Token {secret}, replacing any x-auth-token the agent sent',
    );
  });

  it('defaults to the bare secret', () => {
    const t = target();
    createInjector({ type: 'header', name: 'x-key', format: '{secret}' }).apply(t, {
      primary: new Secret('s3cret'),
    });
    expect(t.headers['x-key']).toBe('s3cret');
  });

  it('writes secrets containing $ patterns literally', () => {
    const injector = createInjector({ type: 'header', name: 'x-key', format: 'K {secret} end' });
    for (const secret of ['a$&b', "a$'b", 'a$`b', 'a$$b', 'a$1b', '{secret}']) {
      const t = target();
      injector.apply(t, { primary: new Secret(secret) });
      expect(t.headers['x-key']).toBe(`K ${secret} end`);
    }
  });

  it('fills every {secret} in the format', () => {
    const t = target();
    createInjector({ type: 'header', name: 'x-key', format: '{secret}/{secret}' }).apply(t, {
      primary: new Secret('s'),
    });
    expect(t.headers['x-key']).toBe('s/s');
  });

  it('does not touch Authorization', () => {
    const t = target({ authorization: 'Bearer placeholder' });
    createInjector({ type: 'header', name: 'x-key', format: '{secret}' }).apply(t, {
      primary: new Secret('s'),
    });
    expect(t.headers.authorization).toBe('Bearer placeholder');
  });

  it.each([
    ['host', /framing/],
    ['Host', /framing/],
    ['content-length', /framing/],
    ['Transfer-Encoding', /framing/],
    ['connection', /framing/],
    ['keep-alive', /framing/],
    ['te', /framing/],
    ['upgrade', /framing/],
    ['proxy-authorization', /framing/],
    ['Proxy-Connection', /framing/],
    ['', /not a valid HTTP field name/],
    ['x key', /not a valid HTTP field name/],
    ['x-key:', /not a valid HTTP field name/],
    [':authority', /not a valid HTTP field name/],
    ['x-key\r\nx-evil', /not a valid HTTP field name/],
    ['x-ké', /not a valid HTTP field name/],
  ])('refuses header name %j', (name, message) => {
    expect(() => createInjector({ type: 'header', name, format: '{secret}' })).toThrow(
      InvalidInputError,
    );
    expect(() => createInjector({ type: 'header', name, format: '{secret}' })).toThrow(message);
  });

  it('accepts every RFC 9110 tchar in a name', () => {
    expect(() =>
      createInjector({ type: 'header', name: "!#$%&'*+-.^_`|~09azAZ", format: '{secret}' }),
    ).not.toThrow();
  });

  it.each([
    ['no placeholder', 'Token', /must contain \{secret\}/],
    ['CRLF', 'Token {secret}\r\nx-evil: 1', /line break/],
    ['NUL', '{secret}\u0000', /line break/],
  ])('refuses a format with %s', (_why, format, message) => {
    expect(() => createInjector({ type: 'header', name: 'x-key', format })).toThrow(message);
  });

  it.each(BAD_VALUES)('refuses a secret with %s', (_why, value) => {
    const injector = createInjector({ type: 'header', name: 'x-key', format: 'T {secret}' });
    expectRefused(() => injector.apply(target(), { primary: new Secret(value) }));
  });
});

describe('api-key', () => {
  const injector = createInjector({ type: 'api-key', name: 'X-Api-Key' });

  it('sets the key header and removes Authorization in any spelling', () => {
    const t = target({
      Authorization: 'Bearer keygate-placeholder',
      authorization: 'Bearer keygate-placeholder',
      'X-API-KEY': 'keygate-placeholder',
      'anthropic-version': '2023-06-01',
    });
    injector.apply(t, { primary: new Secret('sk-ant-real') });
    expect(t.headers).toEqual({ 'x-api-key': 'sk-ant-real', 'anthropic-version': '2023-06-01' });
    expect(injector.explain()).toBe(
      'sets x-api-key: <secret> and removes any Authorization the agent sent',
    );
  });

  it('works with a key header named authorization', () => {
    const own = createInjector({ type: 'api-key', name: 'Authorization' });
    const t = target({ Authorization: 'Bearer placeholder' });
    own.apply(t, { primary: new Secret('raw-key') });
    expect(t.headers).toEqual({ authorization: 'raw-key' });
  });

  it.each(['host', 'proxy-authorization', 'x key'])('refuses header name %j', (name) => {
    expect(() => createInjector({ type: 'api-key', name })).toThrow(InvalidInputError);
  });

  it.each(BAD_VALUES)('refuses a secret with %s', (_why, value) => {
    const t = target({ authorization: 'Bearer placeholder' });
    expectRefused(() => injector.apply(t, { primary: new Secret(value) }));
  });
});

describe('basic', () => {
  const injector = createInjector({ type: 'basic', userRef: 'env://API_USER' });

  it('encodes user:password (RFC 7617 example)', () => {
    const t = target({ authorization: 'Bearer placeholder' });
    injector.apply(t, { primary: new Secret('open sesame'), user: new Secret('Aladdin') });
    expect(t.headers).toEqual({ authorization: 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==' });
    expect(injector.explain()).toMatch(/Basic base64\(<user from env:\/\/API_USER>:<secret>\)/);
  });

  it('allows colons in the password', () => {
    const t = target();
    injector.apply(t, { primary: new Secret('a:b:c'), user: new Secret('u') });
    const encoded = String(t.headers.authorization).slice('Basic '.length);
    expect(Buffer.from(encoded, 'base64').toString('utf8')).toBe('u:a:b:c');
  });

  it('encodes as UTF-8', () => {
    const t = target();
    injector.apply(t, { primary: new Secret('pässwörd'), user: new Secret('test') });
    expect(t.headers.authorization).toBe('Basic dGVzdDpww6Rzc3fDtnJk');
  });

  it('refuses a user containing ":" without echoing it', () => {
    let thrown: unknown;
    try {
      injector.apply(target(), { primary: new Secret('pw'), user: new Secret('sk-abc:user') });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KeygateError);
    const message = (thrown as Error).message;
    expect(message).toMatch(/mapping can't be used/);
    expect(message).toMatch(/RFC 7617/);
    expect(message).toContain('env://API_USER');
    expect(message).not.toContain('sk-abc');
  });

  it('refuses a missing user secret', () => {
    expect(() => injector.apply(target(), { primary: new Secret('pw') })).toThrow(/not resolved/);
  });

  it('accepts any Unicode, which base64 carries', () => {
    const t = target();
    injector.apply(t, { primary: new Secret('p€ss'), user: new Secret('usér€') });
    const encoded = String(t.headers.authorization).slice('Basic '.length);
    expect(Buffer.from(encoded, 'base64').toString('utf8')).toBe('usér€:p€ss');
  });

  it.each(BAD_ENCODED_VALUES)('refuses a password with %s', (_why, value) => {
    expectRefused(() =>
      injector.apply(target(), { primary: new Secret(value), user: new Secret('u') }),
    );
  });

  it.each(BAD_ENCODED_VALUES)('refuses a user with %s', (_why, value) => {
    expectRefused(() =>
      injector.apply(target(), { primary: new Secret('pw'), user: new Secret(value) }),
    );
  });
});

describe('query', () => {
  const injector = createInjector({ type: 'query', param: 'key' });

  it.each([
    ['/v1/models', '/v1/models?key=SECRET'],
    ['/v1/models?', '/v1/models?key=SECRET'],
    ['/v1/models?alt=json', '/v1/models?alt=json&key=SECRET'],
    ['/v1/models?key=placeholder', '/v1/models?key=SECRET'],
    ['/v1/models?a=1&key=placeholder&b=2', '/v1/models?a=1&key=SECRET&b=2'],
    ['/v1/models?key=x&a=1&key=y', '/v1/models?key=SECRET&a=1'],
    ['/v1/models?key&a=1', '/v1/models?key=SECRET&a=1'],
    ['/v1/models?k%65y=x&a=1', '/v1/models?key=SECRET&a=1'],
    ['/v1/models?keys=1&akey=2', '/v1/models?keys=1&akey=2&key=SECRET'],
    // Other parameters keep their exact bytes, including encodings URLSearchParams would change.
    ['/v1/x?q=a%20b&r=%7E&s=a+b&&t', '/v1/x?q=a%20b&r=%7E&s=a+b&&t&key=SECRET'],
  ])('%s → %s', (path, expected) => {
    const t = target({ authorization: 'Bearer placeholder' }, path);
    injector.apply(t, { primary: new Secret('SECRET') });
    expect(t.path).toBe(expected);
    // Headers are not touched.
    expect(t.headers).toEqual({ authorization: 'Bearer placeholder' });
  });

  it('form-encodes the secret and the name', () => {
    const t = target({}, '/x?a=1');
    createInjector({ type: 'query', param: 'api key' }).apply(t, {
      primary: new Secret('a b&c=d+e/ü'),
    });
    expect(t.path).toBe('/x?a=1&api+key=a+b%26c%3Dd%2Be%2F%C3%BC');
    expect(new URL(`http://h${t.path}`).searchParams.get('api key')).toBe('a b&c=d+e/ü');
  });

  it('has no header names and explains itself', () => {
    expect(injector.explain()).toBe(
      'sets query parameter key=<secret>, replacing any value the agent sent',
    );
  });

  it('refuses an empty parameter name', () => {
    expect(() => createInjector({ type: 'query', param: '' })).toThrow(InvalidInputError);
  });

  it('accepts any Unicode, which percent-encoding carries', () => {
    const t = target({}, '/x');
    injector.apply(t, { primary: new Secret('k€y') });
    expect(t.path).toBe('/x?key=k%E2%82%ACy');
  });

  it.each(BAD_ENCODED_VALUES)('refuses a secret with %s', (_why, value) => {
    expectRefused(() => injector.apply(target(), { primary: new Secret(value) }));
  });
});

describe('createInjector', () => {
  it('refuses an unknown type from a hand-edited file', () => {
    const config = { type: 'cookie' } as unknown as Parameters<typeof createInjector>[0];
    expect(() => createInjector(config)).toThrow(/unknown injector type "cookie"/);
  });
});
