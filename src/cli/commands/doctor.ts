import type { Command } from 'commander';
import { withController, type GlobalOptions } from '../cli-context.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the port, the CA, every mapping and its secret source')
    .action(async (_options: unknown, command: Command) => {
      const checks = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        c.handlers['doctor.run'](),
      );
      for (const check of checks)
        process.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}\n`);
      if (checks.some((check) => !check.ok)) process.exitCode = 1;
    });
}
