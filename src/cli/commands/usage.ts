/**
 * `keygate usage [--since 7d] [--json]`: requests and tokens per agent × mapping × model × local
 * day, from usage.json beside settings (docs/agents.md, "Usage and budgets"). Works with or
 * without a running Keygate: one that runs writes its counts there within a second of each answer
 * (usage-store.ts, FLUSH_DELAY_MS), so a count can lag by that much.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { UsageRowView } from '../../shared/api.js';
import { USAGE_MAX_DAYS } from '../../shared/usage-request.js';
import { withController, type GlobalOptions } from '../cli-context.js';
import { dispatch } from '../../engine/dispatch.js';

/** `--since 7d`: whole days, today included (1d is today only), up to the retention. */
export function parseSince(value: string): number {
  const match = /^(\d{1,3})d$/.exec(value.trim());
  const days = match ? Number(match[1]) : NaN;
  if (!(days >= 1 && days <= USAGE_MAX_DAYS))
    throw new InvalidArgumentError(`expected a number of days like 7d (1d to ${USAGE_MAX_DAYS}d)`);
  return days;
}

function table(rows: UsageRowView[]): string {
  const header = ['day', 'agent', 'mapping', 'model', 'requests', 'input', 'output'];
  const body = rows.map((r) => [
    r.day,
    r.agent,
    r.mapping,
    r.model,
    String(r.requests),
    String(r.inputTokens),
    String(r.outputTokens),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  // Text columns left-aligned, counts right-aligned.
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i >= 4 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

export function registerUsage(program: Command): void {
  program
    .command('usage')
    .description('requests and tokens per agent, mapping, model and day')
    .option('--since <days>', 'how far back, today included: 1d is today (default 7d)', parseSince)
    .option('--json', 'machine-readable output')
    .action(async (options: { since?: number; json?: boolean }, command: Command) => {
      const rows = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(
          c.handlers,
          'usage.list',
          options.since !== undefined ? { days: options.since } : {},
        ),
      );
      if (options.json) {
        const out = rows.map(
          ({ agent, mapping, model, day, requests, inputTokens, outputTokens }) => ({
            agent,
            mapping,
            model,
            day,
            requests,
            inputTokens,
            outputTokens,
          }),
        );
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) {
        process.stderr.write('keygate: no usage recorded in that time\n');
        return;
      }
      const total = rows.reduce((sum, r) => sum + r.inputTokens + r.outputTokens, 0);
      process.stdout.write(`${table(rows)}\n`);
      process.stderr.write(`keygate: ${total} tokens in ${rows.length} row(s)\n`);
    });
}
