/**
 * The REAL SDK's reference grammar, offline: these verdicts were recorded from
 * `Secrets.validateSecretReference` in @1password/sdk 0.5.0, and Keygate must agree with them.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Secrets } from '@1password/sdk';
import { describe, expect, it } from 'vitest';
import {
  opReferenceParts,
  parsingReason,
  validateOpReference,
} from '../../../../src/engine/secrets/onepassword/reference.js';
import { REPO_ROOT } from '../../../helpers/keygate-process.js';

/** What the SDK itself says, as [accepted, reason]. */
function sdkVerdict(ref: string): [boolean, string | undefined] {
  try {
    Secrets.validateSecretReference(ref);
    return [true, undefined];
  } catch (err) {
    return [false, parsingReason(err)];
  }
}

describe('validateOpReference agrees with the SDK', () => {
  it.each([
    'op://vault/item/field',
    'op://vault/item/section/field',
    // Spaces need no quoting: the SDK accepts them as they are.
    'op://a b/c/d',
    'op://Private Vault/OpenAI API/credential',
    'op://v/i/f?attribute=otp',
    'op://v/i/f?attribute=totp',
    'op://v/i/section/f?attribute=otp',
    'op://v/i/f?ssh-format=openssh',
    'op://v-1/i_2/f.3',
    // Empty segments pass the syntax check (they fail at resolution).
    'op:///i/f',
  ])('accepts %s', (ref) => {
    expect(sdkVerdict(ref)).toEqual([true, undefined]);
    expect(validateOpReference(ref)).toEqual({ ok: true });
  });

  it.each([
    ['op://v/i', /invalid format - must be "op:\/\/<vault>\/<item>\/\[section\/\]field/],
    ['op://v/i/f/g/h', /invalid format/],
    ['op:/x', /not prefixed with "op:\/\/"/],
    ['env://X', /not prefixed with "op:\/\/"/],
    ['OP://v/i/f', /not prefixed with "op:\/\/"/],
    ['', /not prefixed with "op:\/\/"/],
    // Quoting is not part of the grammar: quotes are invalid characters.
    ['op://"a b"/c/d', /^invalid character.*; write a name with other characters as its ID$/],
    ['op://a%20b/c/d', /invalid character/],
    ['op://ü/i/f', /invalid character/],
    ['op://a:b/c/d', /invalid character/],
    ['op://v/i/f?attribute=bogus', /^secret reference has invalid query parameter value$/],
    ['op://v/i/f?attribute=password', /invalid query parameter value/],
    ['op://v/i/f?attribute=otp&x=1', /invalid format/],
  ])('rejects %s with the SDK reason', (ref, reason) => {
    const [accepted, sdkReason] = sdkVerdict(ref);
    expect(accepted).toBe(false);
    const check = validateOpReference(ref);
    expect(check.ok).toBe(false);
    expect(check.reason).toBe(sdkReason);
    expect(check.reason).toMatch(reason);
    // A clean sentence, not the SDK's JSON envelope.
    expect(check.reason).not.toMatch(/[{}]|ParsingSecretReference|could not be parsed/);
  });

  it('answers refs without op:// locally, in the SDK words', () => {
    expect(validateOpReference('env://X')).toEqual({
      ok: false,
      reason: 'secret reference is not prefixed with "op://"',
    });
  });

  it('is fast once the SDK is loaded', () => {
    validateOpReference('op://v/i/f');
    const start = performance.now();
    for (let i = 0; i < 1000; i++) validateOpReference(`op://vault ${i}/item/field`);
    const perCall = (performance.now() - start) / 1000;
    console.log(`validateOpReference: ${(perCall * 1000).toFixed(1)} µs per call (warm)`);
    expect(perCall).toBeLessThan(5);
  });
});

describe('parsingReason', () => {
  it('parses the JSON string the SDK throws', () => {
    expect(
      parsingReason(
        '{"name":"ParsingSecretReference","message":"the secret reference could not be parsed: x"}',
      ),
    ).toBe('x');
  });

  it('keeps text that is not JSON, and never throws', () => {
    expect(parsingReason('plain words')).toBe('plain words');
    expect(parsingReason(new Error('an error'))).toBe('an error');
    expect(parsingReason({ message: 'an object' })).toBe('an object');
    expect(parsingReason('{"no":"message"}')).toBe('{"no":"message"}');
    expect(parsingReason(undefined)).toBe('threw undefined');
    expect(parsingReason(null)).toBe('threw null');
    expect(parsingReason('')).toMatch(/without a reason/);
    expect(parsingReason('x'.repeat(1000)).length).toBeLessThanOrEqual(300);
  });
});

describe('opReferenceParts', () => {
  it('splits vault, item, optional section and field', () => {
    expect(opReferenceParts('op://v/i/f')).toEqual({ vault: 'v', item: 'i', field: 'f' });
    expect(opReferenceParts('op://v/i/s/f?attribute=otp')).toEqual({
      vault: 'v',
      item: 'i',
      section: 's',
      field: 'f',
    });
    expect(opReferenceParts('op://v/i')).toBeUndefined();
    expect(opReferenceParts('env://X')).toBeUndefined();
  });
});

describe('lazy loading', () => {
  it('importing the 1Password modules does not load the SDK; the first op:// validation does', () => {
    const dir = pathToFileURL(join(REPO_ROOT, 'dist', 'engine', 'secrets', 'onepassword')).href;
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(${JSON.stringify(`${dir}/`)});
      const sdkLoaded = () => Object.keys(require.cache).some((k) => k.includes('@1password'));
      const names = ['onepassword-source', 'sdk-loader', 'reference', 'discovery', 'pairing',
        'token-store', 'client-pool', 'error-mapping', 'op-client'];
      const mods = {};
      for (const n of names) mods[n] = await import(${JSON.stringify(dir)} + '/' + n + '.js');
      const out = { afterImport: sdkLoaded(), flagAfterImport: mods['sdk-loader'].isSdkLoaded() };
      const source = new mods['onepassword-source'].OnePasswordSecretSource({
        factory: async () => { throw new Error('unused'); }, accounts: () => [] });
      source.explain(); source.status(); source.validate('env://X');
      out.afterConstruct = sdkLoaded();
      const t = performance.now();
      out.valid = source.validate('op://v/i/f').ok;
      out.firstValidateMs = Math.round(performance.now() - t);
      out.afterValidate = sdkLoaded();
      out.flagAfterValidate = mods['sdk-loader'].isSdkLoaded();
      const viaImport = await mods['sdk-loader'].loadSdk();
      out.sameModule = viaImport.Secrets === require('@1password/sdk').Secrets;
      console.log(JSON.stringify(out));
    `;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      }),
    ) as Record<string, unknown>;
    console.log(
      `first op:// validation (loads the SDK synchronously): ${String(out.firstValidateMs)} ms`,
    );
    expect(out).toMatchObject({
      afterImport: false,
      flagAfterImport: false,
      afterConstruct: false,
      valid: true,
      afterValidate: true,
      flagAfterValidate: true,
      sameModule: true,
    });
  });
});
