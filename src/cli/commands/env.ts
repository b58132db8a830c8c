import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { childEnvironment, renderEnv } from '../../engine/agent-env.js';
import { NODE_COVERAGE } from '../../engine/agent-preload/coverage.js';
import { InvalidInputError } from '../../engine/errors.js';
import { dispatch } from '../../engine/dispatch.js';
import { withController, type GlobalOptions } from '../cli-context.js';

export function registerEnv(program: Command): void {
  program
    .command('env')
    .description('print the environment an agent needs (eval "$(keygate env)")')
    .addHelpText('after', `\n${NODE_COVERAGE}.`)
    .option('--agent <name>', 'agent identity', 'default')
    .option('--shell <shell>', 'sh or fish', 'sh')
    .action(async (options: { agent: string; shell: string }, command: Command) => {
      if (options.shell !== 'sh' && options.shell !== 'fish') {
        throw new InvalidInputError(`--shell ${options.shell}: expected sh or fish`);
      }
      const shell = options.shell;
      const env = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'agents.env', { name: options.agent }),
      );
      // The shell's own NODE_OPTIONS (inherited by this process) is kept, with the preload added.
      process.stdout.write(`${renderEnv(env, shell, process.env)}\n`);
    });

  program
    .command('run')
    .description('run a command with the agent environment, passing its exit code through')
    .addHelpText(
      'after',
      `\nThe command never gets the variables that env:// mappings read (serve's secrets).\n${NODE_COVERAGE}.`,
    )
    .option('--agent <name>', 'agent identity', 'default')
    .argument('<command...>', 'the command and its arguments (after --)')
    .action(async (argv: string[], options: { agent: string }, command: Command) => {
      const [file, ...args] = argv;
      if (!file)
        throw new InvalidInputError('keygate run: no command given (keygate run -- CMD ARGS)');
      const env = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'agents.env', { name: options.agent }),
      );
      // Listening before the spawn: the command may print, and be signalled by whoever reads its
      // output, before the line after spawn() runs; with no listener yet, Node would die of the
      // signal instead of passing it on (a race CI hit on a loaded machine).
      const started: { child?: ReturnType<typeof spawn>; early?: NodeJS.Signals } = {};
      const forward = (signal: NodeJS.Signals) => {
        if (started.child) started.child.kill(signal);
        else started.early = signal;
      };
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      const { env: childEnv, withheld } = childEnvironment(process.env, env);
      if (withheld.length > 0)
        process.stderr.write(
          `keygate run: not passing ${withheld.join(', ')} to ${file}: env:// mappings read ${withheld.length === 1 ? 'it' : 'them'}, and the agent must hold only the placeholder\n`,
        );
      const child = spawn(file, args, { stdio: 'inherit', env: childEnv });
      started.child = child;
      if (started.early) child.kill(started.early);
      const code = await new Promise<number>((resolve) => {
        child.once('error', (err: NodeJS.ErrnoException) => {
          process.stderr.write(
            `keygate run: cannot start ${file}: ${err.code === 'ENOENT' ? 'command not found' : err.message}\n`,
          );
          resolve(127);
        });
        child.once('exit', (exitCode, signal) =>
          resolve(exitCode ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)),
        );
      });
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      process.exitCode = code;
    });
}
