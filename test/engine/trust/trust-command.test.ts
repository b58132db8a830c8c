import { describe, expect, it } from 'vitest';
import {
  buildTrustCheckCommand,
  buildTrustCommand,
  describeTrustResult,
  loginKeychain,
  parseTrustCheck,
} from '../../../src/engine/trust/trust-command.js';

const CA = '/Users/ada/Library/Application Support/Keygate/ca/ca.pem';

describe('buildTrustCommand', () => {
  it('adds the CA as a trusted root to the login keychain, as the issue spells it', () => {
    expect(buildTrustCommand(CA, loginKeychain('/Users/ada'))).toEqual({
      file: '/usr/bin/security',
      args: [
        'add-trusted-cert',
        '-r',
        'trustRoot',
        '-k',
        '/Users/ada/Library/Keychains/login.keychain-db',
        CA,
      ],
    });
  });

  it("defaults to the current user's login keychain, without admin rights (no -d)", () => {
    const command = buildTrustCommand(CA);
    expect(command.args[4]).toMatch(/\/Library\/Keychains\/login\.keychain-db$/);
    expect(command.args).not.toContain('-d');
  });

  it('passes a path with spaces as one argument (execFile, no shell)', () => {
    expect(buildTrustCommand(CA).args.at(-1)).toBe(CA);
  });

  it.each(['ca.pem', '-d', '', 'relative/ca.pem', '/tmp/ca\0.pem'])(
    'refuses a CA path that is not absolute: %j',
    (path) => {
      expect(() => buildTrustCommand(path)).toThrow(/absolute path/);
      expect(() => buildTrustCheckCommand(path)).toThrow(/absolute path/);
    },
  );
});

describe('buildTrustCheckCommand / parseTrustCheck', () => {
  it('verifies the CA itself with the user trust settings', () => {
    expect(buildTrustCheckCommand(CA)).toEqual({
      file: '/usr/bin/security',
      args: ['verify-cert', '-c', CA],
    });
  });

  it('reads exit 0 as trusted, a verification failure as not trusted', () => {
    expect(
      parseTrustCheck({
        code: 0,
        stdout: '...certificate verification successful.\n',
        stderr: '',
      }),
    ).toBe('trusted');
    expect(
      parseTrustCheck({
        code: 1,
        stdout: '',
        stderr: 'Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n',
      }),
    ).toBe('not-trusted');
  });

  it('says unknown when the check could not run or read the file', () => {
    expect(parseTrustCheck({ code: null, stdout: '', stderr: 'spawn ENOENT' })).toBe('unknown');
    expect(parseTrustCheck({ code: 1, stdout: '', stderr: 'Error reading file' })).toBe('unknown');
  });
});

describe('describeTrustResult', () => {
  it('reports success, cancellation and failure in one line', () => {
    expect(describeTrustResult({ code: 0, stdout: '', stderr: '' })).toMatch(/now trusted/);
    expect(
      describeTrustResult({
        code: 1,
        stdout: '',
        stderr: 'SecTrustSettingsSetTrustSettings: The authorization was canceled by the user.',
      }),
    ).toBe('Trusting the certificate was cancelled.');
    expect(
      describeTrustResult({ code: 1, stdout: '', stderr: 'Error reading file /x.pem\n' }),
    ).toBe('Could not trust the certificate: Error reading file /x.pem.');
    expect(describeTrustResult({ code: 1, stdout: '', stderr: '' })).toBe(
      'Could not trust the certificate.',
    );
  });
});
