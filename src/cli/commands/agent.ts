import type { Command } from 'commander';
import { InvalidInputError } from '../../engine/errors.js';
import { dispatch } from '../../engine/dispatch.js';
import { withController, type GlobalOptions } from '../cli-context.js';
import { parseList } from '../parsers.js';
import {
  budgetInput,
  describeBudget,
  parseMaxRequests,
  parseMaxTokens,
  type BudgetOptions,
} from './agent-budget.js';

const MAX_REQUESTS = ['--max-requests <N/h>', 'requests per sliding hour (429 past it)'] as const;
const MAX_TOKENS = ['--max-tokens <N/d>', 'tokens per local day, as the API reports them'] as const;
const MAPPING = [
  '--mapping <name>',
  "the limits are this mapping's own (keygate map list)",
] as const;

export function registerAgent(program: Command): void {
  const agent = program.command('agent').description('agent identities (proxy tokens)');

  agent
    .command('add')
    .description('create an agent and print its token once')
    .argument('<name>')
    .option(
      '--hosts <patterns>',
      'comma-separated host patterns this agent may use (default: every mapping)',
      parseList,
    )
    .option('--ask', 'ask before its first use of each key (keygate approvals; docs/agents.md)')
    .option(...MAX_REQUESTS, parseMaxRequests)
    .option(...MAX_TOKENS, parseMaxTokens)
    .option(...MAPPING)
    .action(
      async (
        name: string,
        options: { hosts?: string[]; ask?: boolean } & BudgetOptions,
        command: Command,
      ) => {
        // `--hosts "$EMPTY"` must not quietly become "every mapping": fail closed.
        if (options.hosts?.length === 0)
          throw new InvalidInputError('--hosts needs at least one host pattern (a.com,*.b.com)');
        const { token } = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
          dispatch(c.handlers, 'agents.add', {
            name,
            ...(options.hosts ? { hosts: options.hosts } : {}),
            ...(options.ask ? { ask: true } : {}),
            ...budgetInput(options),
          }),
        );
        process.stdout.write(`${token}\n`);
        process.stderr.write(
          `keygate: agent "${name}" created; \`keygate env --agent ${name}\` prints its setup\n`,
        );
      },
    );

  agent
    .command('set')
    .description("change an agent's settings")
    .argument('<name>')
    .option('--ask', 'ask before its first use of each key')
    .option('--no-ask', 'never ask (stored "always" grants are kept)')
    .option(...MAX_REQUESTS, parseMaxRequests)
    .option(...MAX_TOKENS, parseMaxTokens)
    .option(...MAPPING)
    .action(async (name: string, options: { ask?: boolean } & BudgetOptions, command: Command) => {
      const budget = budgetInput(options);
      if (options.ask === undefined && Object.keys(budget).length === 0)
        throw new InvalidInputError(
          'nothing to set (--ask, --no-ask, --max-requests, --max-tokens)',
        );
      const view = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'agents.set', {
          name,
          ...(options.ask !== undefined ? { ask: options.ask } : {}),
          ...budget,
        }),
      );
      const budgetNote =
        view.budget || Object.keys(budget).length > 0 ? `; ${describeBudget(view.budget)}` : '';
      process.stdout.write(`${view.name}: ${view.ask ? 'asks' : 'does not ask'}${budgetNote}\n`);
    });

  agent
    .command('list')
    .description('list agents (never their tokens)')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }, command: Command) => {
      const agents = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'agents.list'),
      );
      if (options.json) {
        process.stdout.write(`${JSON.stringify(agents, null, 2)}\n`);
        return;
      }
      for (const a of agents)
        process.stdout.write(
          `${a.name}\t${a.hosts ? a.hosts.join(',') : '*'}\t${a.createdAt}${a.ask ? '\task' : ''}${a.budget ? `\t${describeBudget(a.budget)}` : ''}\n`,
        );
    });

  agent
    .command('rm')
    .description('revoke an agent')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const { removed } = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'agents.remove', { name }),
      );
      if (!removed) {
        process.stderr.write(`keygate: no agent named "${name}"\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`revoked ${name}\n`);
    });
}
