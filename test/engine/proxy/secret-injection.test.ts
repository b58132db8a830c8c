/**
 * SecretInjection (src/engine/proxy/secret-injection.ts): warm secrets without a promise, cold
 * ones resolved with a named error that never carries a value, one scrubber per secret.
 */
import { describe, expect, it } from 'vitest';
import { SecretUnavailableError } from '../../../src/engine/errors.js';
import { SecretInjection } from '../../../src/engine/proxy/secret-injection.js';
import { CompiledMapping } from '../../../src/engine/rules/compiled-mapping.js';
import { EnvSecretSource } from '../../../src/engine/secrets/env-source.js';
import { SecretResolver } from '../../../src/engine/secrets/secret-resolver.js';

const KEY = 'sk-inject-CANARY-77';
const USER = 'svc-user';

function setup() {
  const resolver = new SecretResolver({
    sources: [new EnvSecretSource({ KEY, USER })],
  });
  return { resolver, injection: new SecretInjection(resolver) };
}

const bearer = new CompiledMapping({
  host: 'a.test',
  ref: 'env://KEY',
  injector: { type: 'bearer' },
});
const basic = new CompiledMapping({
  host: 'b.test',
  ref: 'env://KEY',
  injector: { type: 'basic', userRef: 'env://USER' },
});
const missing = new CompiledMapping({
  host: 'c.test',
  ref: 'env://NOT_SET',
  injector: { type: 'bearer' },
});

describe('SecretInjection', () => {
  it('is cold until resolved, then warm without a promise', async () => {
    const { injection } = setup();
    expect(injection.cached(bearer)).toBeUndefined();
    const resolved = await injection.resolve(bearer);
    expect(resolved.primary.reveal()).toBe(KEY);
    expect(injection.cached(bearer)?.primary.reveal()).toBe(KEY);
  });

  it('a Basic mapping is warm only when both its references are', async () => {
    const { injection, resolver } = setup();
    await resolver.resolve('env://KEY');
    expect(injection.cached(basic)).toBeUndefined();
    const both = await injection.resolve(basic);
    expect(both.user?.reveal()).toBe(USER);
    expect(injection.cached(basic)?.user?.reveal()).toBe(USER);
  });

  it('a missing secret is SecretUnavailableError naming the mapping, never a value', async () => {
    const { injection } = setup();
    const err = await injection.resolve(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretUnavailableError);
    expect((err as Error).message).toMatch(/mapping c\.test: the credential is unavailable/);
    expect((err as Error).message).not.toContain(KEY);
  });

  it('one scrubber per secret, catching the raw, URL-encoded and Basic forms', async () => {
    const { injection } = setup();
    const secrets = await injection.resolve(basic);
    const scrubber = injection.scrubberFor(secrets);
    expect(injection.scrubberFor(secrets)).toBe(scrubber);
    const basicForm = Buffer.from(`${USER}:${KEY}`).toString('base64');
    const text = `${KEY} ${encodeURIComponent(KEY)} ${basicForm}`;
    expect(scrubber.scrubText(text)).not.toMatch(new RegExp(`${KEY}|${basicForm}`));
  });
});
