import {
  AuthExpiredError,
  DesktopSessionExpiredError,
  RateLimitExceededError,
} from '@1password/sdk';
import { describe, expect, it } from 'vitest';
import { SecretSourceError } from '../../../../src/engine/secrets/secret-source.js';
import {
  classifySdkError,
  DESKTOP_LOCKED_MESSAGE,
  mapResolveError,
  mapSdkError,
  OpAuthExpiredError,
  RATE_LIMIT_RETRY_MS,
} from '../../../../src/engine/secrets/onepassword/error-mapping.js';
import { loadSdk } from '../../../../src/engine/secrets/onepassword/sdk-loader.js';

const TOKEN = 'ops_eyJzaWduSW5BZGRyZXNzIjoibXkuMXBhc3N3b3JkLmNvbSJ9CANARY';

describe('mapSdkError: thrown SDK errors', () => {
  // Before the SDK is loaded by Keygate's loader, matching falls back to constructor names.
  const cases = (label: string): void => {
    it(`${label}: RateLimitExceededError → transient, retry after 60 s`, () => {
      const error = mapSdkError(new RateLimitExceededError('rate limit exceeded'));
      expect(error.kind).toBe('transient');
      expect(error.retryAfterMs).toBe(RATE_LIMIT_RETRY_MS);
      expect(error.message).toMatch(/rate limit.*per hour.*1,000.*10,000/);
    });

    it(`${label}: AuthExpiredError → OpAuthExpiredError (recreate the client)`, () => {
      const error = mapSdkError(new AuthExpiredError('auth expired'));
      expect(error).toBeInstanceOf(OpAuthExpiredError);
      expect(error.kind).toBe('transient');
    });

    it(`${label}: DesktopSessionExpiredError → "unlock the 1Password app"`, () => {
      const error = mapSdkError(new DesktopSessionExpiredError('session expired'));
      expect(error.kind).toBe('transient');
      expect(error.message).toBe(DESKTOP_LOCKED_MESSAGE);
    });
  };
  cases('SDK not loaded yet');

  describe('after loading', () => {
    it('loads', async () => {
      await loadSdk();
    });
    cases('SDK loaded (instanceof)');
  });

  it.each([
    ['a JSON string', '{"name":"RateLimitExceeded","message":"rate limit exceeded"}', 'rate-limit'],
    ['a plain object', { name: 'AuthExpired', message: 'x' }, 'auth-expired'],
    [
      'an Error named like the class',
      Object.assign(new Error('x'), { name: 'DesktopSessionExpiredError' }),
      'desktop-locked',
    ],
    ['a bare Error with the core words', new Error(': rate limit exceeded'), 'rate-limit'],
    [
      'a JSON token error',
      '{"name":"ServiceAccountTokenParsing","message":"bad"}',
      'invalid-token',
    ],
    [
      'the malformed-token words',
      new Error(
        'invalid user input: encountered the following errors: service account token had invalid format',
      ),
      'invalid-token',
    ],
    [
      'a revoked token',
      new Error('bad service account token, please rotate it: x'),
      'token-rejected',
    ],
    [
      'a deleted item via resolve()',
      new Error('error resolving secret reference: no item matched the secret reference query'),
      'not-found',
    ],
    [
      'no access',
      new Error("you don't have the right permissions to access this resource"),
      'not-found',
    ],
    ['a network failure', new TypeError('fetch failed'), 'network'],
    ['a timeout', new Error('request timeout'), 'network'],
    ['anything else', new Error('boom'), 'other'],
    ['a number', 42, 'other'],
    ['null', null, 'other'],
    ['undefined', undefined, 'other'],
    ['a non-JSON string', 'plain failure', 'other'],
  ])('classifies %s', (_label, thrown, category) => {
    expect(classifySdkError(thrown).category).toBe(category);
    const mapped = mapSdkError(thrown);
    expect(mapped).toBeInstanceOf(SecretSourceError);
    expect(mapped.kind).toBe(category === 'not-found' ? 'not-found' : 'transient');
  });

  it('gives plain not-found reasons for resolve() failures', () => {
    const error = mapSdkError(
      new Error('error resolving secret reference: no item matched the secret reference query'),
    );
    expect(error.message).toBe('no item matched the secret reference query');
    expect(
      mapSdkError(new Error("you don't have the right permissions to access this resource"))
        .message,
    ).toMatch(/no access to it/);
  });

  it('never lets the token through, in the message or the cause', () => {
    for (const thrown of [
      new Error(`invalid service account token: ${TOKEN}`),
      `{"name":"Internal","message":"failed for ${TOKEN}"}`,
      { message: `x ${TOKEN} y` },
    ]) {
      const mapped = mapSdkError(thrown, [TOKEN]);
      expect(mapped.message).not.toContain(TOKEN);
      expect(mapped.message).not.toContain('CANARY');
      expect(String((mapped.cause as Error | undefined)?.message)).not.toContain('CANARY');
    }
    // Token-shaped text is removed even when the caller forgot to list it.
    expect(mapSdkError(new Error(`oops ${TOKEN}`)).message).not.toContain('CANARY');
  });

  it('passes SecretSourceErrors through', () => {
    const original = new SecretSourceError('x', 'not-found');
    expect(mapSdkError(original)).toBe(original);
  });
});

describe('mapResolveError: per-reference resolveAll errors', () => {
  const ref = 'op://Work/OpenAI/credential';
  it.each([
    ['itemNotFound', /^item "OpenAI" not found in vault "Work"/],
    ['vaultNotFound', /^vault "Work" not found, or the 1Password account has no access to it$/],
    ['fieldNotFound', /^field "credential" not found in item "OpenAI" of vault "Work"$/],
    ['noMatchingSections', /^no matching section in item "OpenAI" of vault "Work"$/],
    ['tooManyItems', /more than one item in vault "Work" is called "OpenAI"; use the item's ID/],
    ['tooManyVaults', /more than one vault is called "Work"; use the vault's ID/],
    ['tooManyMatchingFields', /more than one field in item "OpenAI" is called "credential"/],
    ['incompatibleTOTPQueryParameterField', /one-time-password field/],
    ['unableToGenerateTotpCode', /one-time password/],
    ['sSHKeyMetadataNotFound', /SSH private key/],
    ['unsupportedFileFormat', /only text files/],
  ])('%s → not-found with a plain reason', (type, reason) => {
    const error = mapResolveError({ type }, ref);
    expect(error.kind).toBe('not-found');
    expect(error.message).toMatch(reason);
  });

  it('names the section when the reference has one', () => {
    expect(mapResolveError({ type: 'noMatchingSections' }, 'op://v/i/API/key').message).toBe(
      'section "API" not found in item "i" of vault "v"',
    );
  });

  it('parsing → not-found with the SDK reason', () => {
    const error = mapResolveError(
      { type: 'parsing', message: 'the secret reference could not be parsed: bad' },
      ref,
    );
    expect(error).toMatchObject({ kind: 'not-found', message: 'not a valid op:// reference: bad' });
  });

  it('other and unknown types are transient and do not echo the message', () => {
    expect(mapResolveError({ type: 'other', message: 'SECRET-ISH' }, ref)).toMatchObject({
      kind: 'transient',
      message: '1Password could not resolve it (other)',
    });
    expect(mapResolveError({ type: '<script>' }, ref).message).toBe(
      '1Password could not resolve it (unknown error)',
    );
  });
});
