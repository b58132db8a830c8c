import type { Command } from 'commander';
import type { MappingInput } from '../../shared/api.js';
import { PRESETS } from '../../shared/presets.js';
import { dispatch } from '../../engine/dispatch.js';
import { withController, type GlobalOptions } from '../cli-context.js';
import { parsePort } from '../parsers.js';

interface MapAddOptions {
  preset?: string;
  bearer?: boolean;
  header?: string;
  format?: string;
  apiKeyHeader?: string;
  basic?: string;
  query?: string;
  path?: string;
  port?: number;
  account?: string;
  allowPlaintext?: boolean;
}

export function registerMap(program: Command): void {
  const map = program.command('map').description('host → secret mappings');

  map
    .command('add')
    .description('map HOST to a secret reference (op://vault/item/field or env://VAR)')
    .argument('<host>', 'api.openai.com, *.example.com, or host:port')
    .argument('<ref>', 'secret reference')
    .option('--preset <name>', `fill in the injector: ${Object.keys(PRESETS).join(', ')}`)
    .option('--bearer', 'Authorization: Bearer <secret> (the default)')
    .option('--header <name>', 'set this header')
    .option('--format <template>', 'with --header: value template containing {secret}')
    .option('--api-key-header <name>', 'set this header and remove Authorization (x-api-key style)')
    .option(
      '--basic <user>',
      'Authorization: Basic with REF as the password; the user is this reference (env://, op://) or, without a scheme, this literal user-id (x-access-token)',
    )
    .option('--query <param>', 'set this query parameter')
    .option('--path <glob>', 'only inject for paths matching this glob (/v1/**)')
    .option('--port <port>', 'port the agent connects to (default 443)', parsePort)
    .option('--account <name>', '1Password account for op:// references')
    .option('--allow-plaintext', 'allow injection over plain http:// (loopback hosts only)')
    .action(async (host: string, ref: string, options: MapAddOptions, command: Command) => {
      const input: MappingInput = {
        host,
        ref,
        ...(options.preset !== undefined ? { preset: options.preset } : {}),
        ...(options.bearer ? { bearer: true } : {}),
        ...(options.header !== undefined ? { header: options.header } : {}),
        ...(options.format !== undefined ? { format: options.format } : {}),
        ...(options.apiKeyHeader !== undefined ? { apiKeyHeader: options.apiKeyHeader } : {}),
        ...(options.basic !== undefined ? { basicUserRef: options.basic } : {}),
        ...(options.query !== undefined ? { query: options.query } : {}),
        ...(options.path !== undefined ? { path: options.path } : {}),
        ...(options.port !== undefined ? { port: options.port } : {}),
        ...(options.account !== undefined ? { account: options.account } : {}),
        ...(options.allowPlaintext ? { allowPlaintext: true } : {}),
      };
      const view = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'mappings.upsert', input),
      );
      process.stdout.write(`mapped ${view.name}: ${view.explain}\n`);
    });

  map
    .command('list')
    .description('list mappings')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }, command: Command) => {
      const views = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'mappings.list'),
      );
      if (options.json) {
        process.stdout.write(`${JSON.stringify(views, null, 2)}\n`);
        return;
      }
      if (views.length === 0) {
        process.stdout.write('no mappings (keygate map add HOST REF)\n');
        return;
      }
      // Stale flags come from a running serve (serve.json): a terminal has resolved nothing itself.
      for (const view of views) {
        const stale = view.stale ? `\tSTALE: ${view.stale}` : '';
        process.stdout.write(`${view.name}\t${view.ref}\t${view.explain}${stale}\n`);
      }
    });

  map
    .command('rm')
    .description("remove a host's mappings")
    .argument('<host>')
    .option('--path <glob>', 'only the mapping with this path glob')
    .action(async (host: string, options: { path?: string }, command: Command) => {
      const { removed } = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'mappings.remove', {
          host,
          ...(options.path !== undefined ? { path: options.path } : {}),
        }),
      );
      if (removed === 0) {
        process.stderr.write(`keygate: no mapping for ${host}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`removed ${removed} mapping(s) for ${host}\n`);
    });

  map
    .command('test')
    .description("resolve a host's secret here and print a fingerprint (never the value)")
    .argument('<host>')
    .action(async (host: string, _options: unknown, command: Command) => {
      const results = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'mappings.test', { host }),
      );
      for (const result of results) {
        if (result.ok)
          process.stdout.write(
            `ok ${result.name} ${result.fingerprint} (${result.length} characters)\n`,
          );
        else {
          process.stdout.write(`failed ${result.name}: ${result.reason}\n`);
          process.exitCode = 1;
        }
      }
    });
}
