/**
 * The `security` command lines that trust the Keygate CA in the user's login keychain and check
 * whether it is trusted. Pure: certificate-trust.ts runs them. Keychain trust matters because some clients
 * ignore every CA variable: Codex's Responses WebSocket and Go programs on macOS (gh) only trust
 * what the Keychain trusts (docs/macos.md).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ADD_TRUSTED_CERT_ARGS } from '../../shared/trust-command-line.js';

/** What the login keychain says about the Keygate CA. */
export type TrustState = 'trusted' | 'not-trusted' | 'unknown' | 'unsupported';

export const SECURITY_TOOL = '/usr/bin/security';

export interface Command {
  readonly file: string;
  readonly args: readonly string[];
}

export interface CommandResult {
  /** The exit code; null when the process was killed or could not start. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function loginKeychain(home: string = homedir()): string {
  return join(home, 'Library', 'Keychains', 'login.keychain-db');
}

/**
 * `security add-trusted-cert -r trustRoot -k <login keychain> <ca.pem>`: adds the CA to the login
 * keychain with "Always Trust" as a root, for the user only (no `-d`, so no admin rights; macOS
 * asks for the user's password to change trust settings). No `-p`: trusted for every policy,
 * which covers TLS servers.
 */
export function buildTrustCommand(caPath: string, keychain: string = loginKeychain()): Command {
  requireAbsolute(caPath, 'the CA path');
  requireAbsolute(keychain, 'the keychain path');
  return {
    file: SECURITY_TOOL,
    args: [...ADD_TRUSTED_CERT_ARGS, '-k', keychain, caPath],
  };
}

/**
 * `security verify-cert -c <ca.pem>`: evaluates the CA itself (basic X.509 policy) with the
 * user's and the system's trust settings. A self-signed root verifies only when it is trusted,
 * so exit 0 means trusted. Not the SSL policy: it would judge the CA as if it were a server
 * certificate (a 10-year validity fails macOS's 825-day rule for those).
 */
export function buildTrustCheckCommand(caPath: string): Command {
  requireAbsolute(caPath, 'the CA path');
  return { file: SECURITY_TOOL, args: ['verify-cert', '-c', caPath] };
}

/** Reads `verify-cert`'s answer. A tool that did not run at all says nothing about trust. */
export function parseTrustCheck(result: CommandResult): TrustState {
  if (result.code === 0) return 'trusted';
  if (result.code === null) return 'unknown';
  const text = `${result.stdout}\n${result.stderr}`;
  // verify-cert fails with e.g. "CSSMERR_TP_NOT_TRUSTED" or "Cert Verify Result: …": not trusted.
  // A missing or unreadable file is a different story: we cannot tell.
  if (/no such file|unable to read|error reading|could not (read|open)|not found/i.test(text))
    return 'unknown';
  return 'not-trusted';
}

/** One line for the user, from `add-trusted-cert`'s answer. Never empty. */
export function describeTrustResult(result: CommandResult): string {
  if (result.code === 0) return 'The Keygate certificate is now trusted in your login keychain.';
  const detail = (result.stderr || result.stdout).trim().split('\n').pop()?.trim();
  if (/cancel|authorization was denied|user interaction is not allowed/i.test(detail ?? '')) {
    return 'Trusting the certificate was cancelled.';
  }
  return `Could not trust the certificate${detail ? `: ${detail}` : ''}.`;
}

function requireAbsolute(path: string, what: string): void {
  // execFile passes arguments verbatim (no shell), but a relative path or one that looks like an
  // option would still be read by `security` as something else.
  if (!path.startsWith('/') || path.includes('\0')) {
    throw new TypeError(`${what} must be an absolute path, got ${JSON.stringify(path)}`);
  }
}
