import { copyFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { withController, type GlobalOptions } from '../cli-context.js';

export function registerCa(program: Command): void {
  const ca = program.command('ca').description("Keygate's per-install certificate authority");

  ca.command('path')
    .description('print the CA certificate path (created on first use)')
    .action(async (_options: unknown, command: Command) => {
      const info = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        c.handlers['ca.info'](),
      );
      process.stdout.write(`${info.certPath}\n`);
    });

  ca.command('export')
    .description('copy the CA certificate (public, PEM) to FILE')
    .argument('<file>')
    .action(async (file: string, _options: unknown, command: Command) => {
      const info = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        c.handlers['ca.info'](),
      );
      await copyFile(info.certPath, file).catch((err: NodeJS.ErrnoException) => {
        throw new Error(`cannot write ${file}: ${err.code ?? err.message}`, { cause: err });
      });
      process.stdout.write(
        `exported ${info.certPath} to ${file} (SHA-256 ${info.fingerprint256})\n`,
      );
    });
}
