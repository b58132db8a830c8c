#!/usr/bin/env node
/**
 * `keygate`: the headless CLI. Exit codes are a contract: 0 ok, 1 failure (message on stderr),
 * 2 usage (bad command line or invalid input).
 */
import { Command, CommanderError } from 'commander';
import { InvalidInputError, SettingsError } from '../engine/errors.js';
import { registerAgent } from './commands/agent.js';
import { registerApprovals } from './commands/approvals.js';
import { registerCa } from './commands/ca.js';
import { registerDoctor } from './commands/doctor.js';
import { registerEnv } from './commands/env.js';
import { registerMap } from './commands/map.js';
import { registerServe } from './commands/serve.js';
import { registerToken } from './commands/token.js';
import { registerUsage } from './commands/usage.js';
import { ensureDirectNetwork } from '../engine/direct-network.js';
import { VERSION } from '../engine/version.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('keygate')
    .description('A local HTTPS proxy that writes real API keys into your agents’ requests.')
    .version(VERSION)
    .option('--home <dir>', 'Keygate home (default: $KEYGATE_HOME, or the platform config dir)')
    .showHelpAfterError()
    .exitOverride();
  for (const register of [
    registerServe,
    registerMap,
    registerAgent,
    registerApprovals,
    registerUsage,
    registerEnv,
    registerCa,
    registerDoctor,
    registerToken,
  ])
    register(program);
  // Sub-commands inherit exitOverride only when set on each.
  const override = (command: Command) => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // Every command may reach 1Password (map add's live check, token set, serve): never via a proxy.
  const network = ensureDirectNetwork();
  if (network.warning) process.stderr.write(`keygate: ${network.warning}\n`);
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version print and exit 0; everything else commander reports is misuse.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof InvalidInputError) {
      process.stderr.write(`keygate: ${err.message}\n`);
      return EXIT_USAGE;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      `keygate: ${err instanceof SettingsError ? 'settings: ' : ''}${message}\n`,
    );
    if (process.env.KEYGATE_LOG === 'debug' && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`);
    return EXIT_FAILURE;
  }
}

/**
 * Leave once the answer is out. Every command is done when `main` settles (serve included: it
 * returns after it stopped), but the 1Password SDK cannot cancel a call: an abandoned sign-in
 * `fetch` to a server that never answers would keep the process alive for up to 300 s after
 * Keygate printed its timeout message (docs/onepassword.md). So exit explicitly, after stdout
 * and stderr have flushed what was written (a pipe may still hold it).
 */
function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = (): void => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main(process.argv).then(exitWhenFlushed, (err: unknown) => {
  process.stderr.write(
    `keygate: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  exitWhenFlushed(EXIT_FAILURE);
});
