import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { format, inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EnvSecretSource } from '../../../src/engine/secrets/env-source.js';
import { Secret } from '../../../src/engine/secrets/secret.js';
import { SecretSourceError } from '../../../src/engine/secrets/secret-source.js';
import { SecretResolver } from '../../../src/engine/secrets/secret-resolver.js';

const VALUE = 'sk-test-0123456789abcdef';
const signal = new AbortController().signal;

describe('EnvSecretSource.validate', () => {
  const source = new EnvSecretSource({});

  it.each(['env://OPENAI_API_KEY', 'env://_x', 'env://a1', 'env://A_B_9'])('accepts %s', (ref) => {
    expect(source.validate(ref)).toEqual({ ok: true });
  });

  it.each([
    ['env://', /needs a variable name/],
    ['env://1ABC', /must not start with a digit/],
    ['env://MY-KEY', /only letters, digits and underscores/],
    ['env://A B', /only letters, digits and underscores/],
    ['env://A/B', /only letters, digits and underscores/],
    ['op://vault/item/field', /starts with env:\/\//],
    ['OPENAI_API_KEY', /starts with env:\/\//],
    ['ENV://X', /starts with env:\/\//],
  ])('rejects %s in plain words', (ref, reason) => {
    const check = source.validate(ref);
    expect(check.ok).toBe(false);
    expect(check.reason).toMatch(reason);
  });

  it('does not echo the name it rejects', () => {
    const check = source.validate(`env://${VALUE}`);
    expect(check.ok).toBe(false);
    expect(check.reason).not.toContain(VALUE);
  });
});

describe('EnvSecretSource.resolve', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('resolves the value of the variable', async () => {
    const source = new EnvSecretSource({ API_KEY: VALUE });
    const secret = await source.resolve('env://API_KEY', signal);
    expect(secret).toBeInstanceOf(Secret);
    expect(secret.reveal()).toBe(VALUE);
  });

  it.each([
    ['missing', {}],
    ['empty', { API_KEY: '' }],
  ])('fails not-found when the variable is %s', async (_, env) => {
    const source = new EnvSecretSource(env);
    const error = await source.resolve('env://API_KEY', signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretSourceError);
    expect(error).toMatchObject({
      kind: 'not-found',
      message: 'environment variable API_KEY is not set in the keygate process',
    });
  });

  it('reads process.env at resolve time by default', async () => {
    const source = new EnvSecretSource();
    const name = 'KEYGATE_TEST_ENV_SOURCE_VAR';
    await expect(source.resolve(`env://${name}`, signal)).rejects.toMatchObject({
      kind: 'not-found',
    });
    vi.stubEnv(name, VALUE);
    expect((await source.resolve(`env://${name}`, signal)).reveal()).toBe(VALUE);
  });

  it('refuses a malformed reference without reading the environment', async () => {
    const source = new EnvSecretSource({ 'MY-KEY': VALUE });
    await expect(source.resolve('env://MY-KEY', signal)).rejects.toBeInstanceOf(SecretSourceError);
  });

  it('explains itself in one line', () => {
    expect(new EnvSecretSource().explain()).toMatch(/^env: .*env:\/\/NAME/);
  });

  it('plugs into the resolver; a missing variable is a named not-found', async () => {
    const resolver = new SecretResolver({ sources: [new EnvSecretSource({ A: VALUE })] });
    expect((await resolver.resolve('env://A')).reveal()).toBe(VALUE);
    await expect(resolver.resolve('env://B')).rejects.toMatchObject({
      kind: 'not-found',
      ref: 'env://B',
      message:
        'could not resolve env://B: environment variable B is not set in the keygate process',
    });
  });
});

describe('Secret redaction', () => {
  const secret = new Secret(VALUE);

  const renderings: [string, () => string][] = [
    ['String()', () => String(secret)],
    ['template literal', () => `${secret}`],
    ['string concatenation', () => 'key=' + secret],
    ['JSON.stringify', () => JSON.stringify({ s: secret })],
    ['util.inspect', () => inspect(secret)],
    ['util.inspect nested, showHidden', () => inspect({ a: { s: secret } }, { showHidden: true })],
    ['util.format %s %o', () => format('%s %o', secret, secret)],
    ['util.format %O %j', () => format('%O %j', secret, { secret })],
    ['util.format bare', () => format(secret, { secret })],
    ['Error message', () => new Error(`failed with ${secret}`).message],
  ];

  it.each(renderings)('%s never contains the value', (_, render) => {
    const text = render();
    expect(text).not.toContain(VALUE);
    expect(text).toContain('[secret]');
  });

  it('console.log never prints the value', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        out += chunk.toString();
        done();
      },
    });
    const console = new Console({ stdout: sink, stderr: sink });
    console.log(secret);
    console.log('%s %o', secret, secret);
    console.log({ secret });
    console.error('oops', [secret]);
    console.dir(secret, { showHidden: true });
    expect(out).not.toContain(VALUE);
    expect(out).toContain('[secret]');
  });

  it('spreading or cloning drops the value', () => {
    expect(JSON.stringify({ ...secret })).not.toContain(VALUE);
    expect(inspect(structuredClone(secret))).not.toContain(VALUE);
  });

  it('still reveals on purpose', () => {
    expect(secret.reveal()).toBe(VALUE);
    expect(secret.length).toBe(VALUE.length);
    expect(secret.fingerprint()).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(secret.fingerprint()).not.toContain(VALUE);
  });
});
