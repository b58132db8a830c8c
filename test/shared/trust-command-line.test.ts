/**
 * The trust command line (src/shared/trust-command-line.ts) is the one spelling of "trust the CA":
 * what the engine runs, what the browser page shows and what a host without the app refuses with.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Controller } from '../../src/engine/controller.js';
import { dispatch } from '../../src/engine/dispatch.js';
import { AppOnlyOperationError } from '../../src/engine/errors.js';
import { SettingsStore } from '../../src/engine/settings/settings-store.js';
import { buildTrustCommand, loginKeychain } from '../../src/engine/trust/trust-command.js';
import { LOGIN_KEYCHAIN_FOR_SHELL, trustCommandLine } from '../../src/shared/trust-command-line.js';

const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

describe('trustCommandLine', () => {
  it('is the command the engine runs, word for word, with the keychain as a user types it', () => {
    const ca = '/Users/ada/Library/Application Support/Keygate/ca/ca.pem';
    const run = buildTrustCommand(ca, loginKeychain('/Users/ada'));
    const words = ['security', ...run.args.slice(0, -2), LOGIN_KEYCHAIN_FOR_SHELL, `'${ca}'`];
    expect(trustCommandLine(ca)).toBe(words.join(' '));
    expect(LOGIN_KEYCHAIN_FOR_SHELL).toBe(run.args.at(-2)?.replace('/Users/ada', '~'));
  });

  it('quotes a path with a quote or spaces so the shell reads it as one word', () => {
    expect(trustCommandLine("/tmp/it's here/ca.pem")).toMatch(/ '\/tmp\/it'\\''s here\/ca\.pem'$/);
  });

  it('is what a host without the app answers ca.trust with, beside `keygate ca trust`', async () => {
    const home = mkdtempSync(join(tmpdir(), 'keygate-trust-line-'));
    homes.push(home);
    const store = SettingsStore.open(home);
    try {
      const controller = new Controller({ store, home });
      const info = await dispatch(controller.handlers, 'ca.info');
      const error = await dispatch(controller.handlers, 'ca.trust').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppOnlyOperationError);
      expect((error as Error).message).toBe(
        `trust the CA with \`keygate ca trust\` on the Mac, or: ${trustCommandLine(info.certPath)}`,
      );
    } finally {
      store.close();
    }
  });
});
