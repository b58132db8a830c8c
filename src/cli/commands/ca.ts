import { copyFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { createLogger, parseLogLevel } from '../../engine/log/logger.js';
import { CertificateTrust } from '../../engine/trust/certificate-trust.js';
import { dispatch } from '../../engine/dispatch.js';
import { withController, type GlobalOptions } from '../cli-context.js';

export function registerCa(program: Command): void {
  const ca = program.command('ca').description("Keygate's per-install certificate authority");

  ca.command('path')
    .description('print the CA certificate path (created on first use)')
    .action(async (_options: unknown, command: Command) => {
      const info = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'ca.info'),
      );
      process.stdout.write(`${info.certPath}\n`);
    });

  ca.command('export')
    .description('copy the CA certificate (public, PEM) to FILE')
    .argument('<file>')
    .action(async (file: string, _options: unknown, command: Command) => {
      const info = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'ca.info'),
      );
      await copyFile(info.certPath, file).catch((err: NodeJS.ErrnoException) => {
        throw new Error(`cannot write ${file}: ${err.code ?? err.message}`, { cause: err });
      });
      process.stdout.write(
        `exported ${info.certPath} to ${file} (SHA-256 ${info.fingerprint256})\n`,
      );
    });

  // The same checker as the app's menu (engine/trust/): macOS asks for the user's password.
  ca.command('trust')
    .description('trust the CA in your login keychain (macOS; asks for your password)')
    .option('--check', 'only say whether the login keychain trusts it (exit 1 if not)')
    .action(async (options: { check?: boolean }, command: Command) => {
      const info = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'ca.info'),
      );
      const logger = createLogger({ level: parseLogLevel(process.env.KEYGATE_LOG ?? 'warn') });
      const trust = new CertificateTrust(async () => info.certPath, logger);
      if (options.check) {
        const state = await trust.refresh();
        process.stdout.write(`${state}\n`);
        if (state !== 'trusted') process.exitCode = 1;
        return;
      }
      const outcome = await trust.trust();
      (outcome.ok ? process.stdout : process.stderr).write(`keygate: ${outcome.message}\n`);
      if (!outcome.ok) process.exitCode = 1;
    });
}
