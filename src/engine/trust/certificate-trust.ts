/**
 * Runs the `security` commands from trust-command.ts: reports whether the login keychain trusts
 * the Keygate CA, and trusts it on request (macOS asks for the user's password). Off macOS there
 * is no login keychain: the state is 'unsupported' and nothing runs. Host-neutral (no Electron):
 * the app's menu and `keygate ca trust` both use it.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../log/logger.js';
import {
  buildTrustCheckCommand,
  buildTrustCommand,
  describeTrustResult,
  parseTrustCheck,
  type Command,
  type CommandResult,
  type TrustState,
} from './trust-command.js';

/** The password prompt waits for the user; give up after this long. */
const TRUST_TIMEOUT_MS = 5 * 60_000;
const CHECK_TIMEOUT_MS = 15_000;

export interface TrustOutcome {
  readonly ok: boolean;
  /** One line for the user. */
  readonly message: string;
  readonly state: TrustState;
}

function run(command: Command, timeout: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      command.file,
      [...command.args],
      { timeout, encoding: 'utf8', windowsHide: true },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr: stderr || (error && code === null ? error.message : '') });
      },
    );
  });
}

export class CertificateTrust {
  readonly #caPath: () => Promise<string>;
  readonly #logger: Logger;
  readonly #platform: NodeJS.Platform;
  #state: TrustState;

  constructor(caPath: () => Promise<string>, logger: Logger, platform = process.platform) {
    this.#caPath = caPath;
    this.#logger = logger;
    this.#platform = platform;
    this.#state = platform === 'darwin' ? 'unknown' : 'unsupported';
  }

  /** The last known state; `refresh()` updates it. */
  get state(): TrustState {
    return this.#state;
  }

  async refresh(): Promise<TrustState> {
    if (this.#platform !== 'darwin') return this.#state;
    try {
      const result = await run(buildTrustCheckCommand(await this.#caPath()), CHECK_TIMEOUT_MS);
      this.#state = parseTrustCheck(result);
    } catch (err) {
      this.#logger.warn('could not check certificate trust', { err });
      this.#state = 'unknown';
    }
    return this.#state;
  }

  async trust(): Promise<TrustOutcome> {
    if (this.#platform !== 'darwin') {
      return {
        ok: false,
        message: 'Trusting the certificate in a keychain is only possible on macOS.',
        state: this.#state,
      };
    }
    const caPath = await this.#caPath();
    const result = await run(buildTrustCommand(caPath), TRUST_TIMEOUT_MS);
    const message = describeTrustResult(result);
    if (result.code === 0) this.#logger.info('CA trusted in the login keychain', { caPath });
    else this.#logger.warn('trusting the CA failed', { code: result.code, message });
    return { ok: result.code === 0, message, state: await this.refresh() };
  }
}

/** The trust checker for the engine's CA (its path comes from the contract's `ca.info`). */
export function setupTrust(
  caInfo: () => Promise<{ certPath: string }>,
  logger: Logger,
): CertificateTrust {
  return new CertificateTrust(async () => (await caInfo()).certPath, logger);
}
