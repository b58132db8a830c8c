import { RateLimitExceededError } from '@1password/sdk';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../../../src/engine/secrets/secret.js';
import {
  PairingError,
  pairServiceAccount,
} from '../../../../src/engine/secrets/onepassword/pairing.js';
import { FakeOnePassword, fakeToken } from '../../../helpers/fake-op-client.js';

// Well-formed as the real SDK requires; its whole text, and its base64 payload, are canaries.
const TOKEN = fakeToken('CANARY-pairing');

async function pairingError(promise: Promise<unknown>): Promise<PairingError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PairingError);
  const pairing = error as PairingError;
  expect(pairing.message).not.toContain('CANARY');
  expect(pairing.message).not.toContain(TOKEN);
  expect(pairing.message).not.toContain(TOKEN.slice(4, 40));
  return pairing;
}

describe('pairServiceAccount', () => {
  it('creates a client, lists vaults and reports how many', async () => {
    const op = new FakeOnePassword();
    op.addVault('Work');
    op.addVault('Private');
    expect(await pairServiceAccount(op.factory, new Secret(TOKEN))).toEqual({ vaultCount: 2 });
    expect(op.auths).toHaveLength(1);
    expect(op.calls['vaults.list']).toBe(1);
    expect(op.calls.resolve + op.calls.resolveAll).toBe(0);
  });

  it('refuses an empty or padded token without calling 1Password', async () => {
    const op = new FakeOnePassword();
    expect((await pairingError(pairServiceAccount(op.factory, new Secret('  ')))).reason).toBe(
      'malformed-token',
    );
    const padded = await pairingError(pairServiceAccount(op.factory, new Secret(` ${TOKEN}\n`)));
    expect(padded.message).toMatch(/spaces or line breaks/);
    expect(op.createCalls).toBe(0);
  });

  it('a malformed token (SDK words) becomes a clean message', async () => {
    const op = new FakeOnePassword();
    op.createError = new Error(
      `invalid user input: encountered the following errors: service account token had invalid format ${TOKEN}`,
    );
    const error = await pairingError(pairServiceAccount(op.factory, new Secret(TOKEN)));
    expect(error.reason).toBe('malformed-token');
    expect(error.message).toMatch(/^this is not a valid 1Password service account token/);
  });

  it('a revoked token is "rejected"', async () => {
    const op = new FakeOnePassword();
    op.createError = new Error('bad service account token, please rotate it: revoked');
    expect((await pairingError(pairServiceAccount(op.factory, new Secret(TOKEN)))).reason).toBe(
      'rejected',
    );
  });

  it('a hang is cut by the timeout as "unreachable"', async () => {
    const op = new FakeOnePassword();
    op.hang = true;
    const start = performance.now();
    const error = await pairingError(
      pairServiceAccount(op.factory, new Secret(TOKEN), { timeoutMs: 50 }),
    );
    expect(error.reason).toBe('unreachable');
    // The real SDK hangs here (onepassword-sdk-errors.json, "hang"): say 1Password was not reached.
    expect(error.message).toMatch(
      /^1Password could not be reached: no answer within 0\.05 s .*; check the network and try again$/,
    );
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('a rate limit is "unreachable" with a hint', async () => {
    const op = new FakeOnePassword();
    op.createError = new RateLimitExceededError('rate limit exceeded');
    const error = await pairingError(pairServiceAccount(op.factory, new Secret(TOKEN)));
    expect(error).toMatchObject({ reason: 'unreachable' });
    expect(error.message).toMatch(/per hour/);
  });
});
