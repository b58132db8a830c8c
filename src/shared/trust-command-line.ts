/**
 * The one spelling of "trust Keygate's CA in the login keychain": the engine runs it
 * (engine/trust/trust-command.ts), and a browser page or a refusal shows it for the user to run.
 * `-r trustRoot`: "Always Trust" as a root; `-k`: the user's login keychain, so no admin rights.
 */
import { shQuote } from './shell-quote.js';

/** `security`'s arguments before `-k <keychain> <ca.pem>`. */
export const ADD_TRUSTED_CERT_ARGS = ['add-trusted-cert', '-r', 'trustRoot'] as const;

/** The login keychain as a user types it (the engine uses the absolute path). */
export const LOGIN_KEYCHAIN_FOR_SHELL = '~/Library/Keychains/login.keychain-db';

/** A line to paste into Terminal; the CA path is quoted, the `~` is left for the shell. */
export function trustCommandLine(caPath: string): string {
  return `security ${ADD_TRUSTED_CERT_ARGS.join(' ')} -k ${LOGIN_KEYCHAIN_FOR_SHELL} ${shQuote(caPath)}`;
}
