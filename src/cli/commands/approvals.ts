/**
 * `keygate approvals`, `keygate approve ID`, `keygate deny ID`: answer the requests a running
 * `keygate serve` holds for agents that ask (docs/agents.md, "Approvals"). Pending approvals live
 * in serve's memory, so these call its API, at the address and with the approvals-only token it
 * keeps in its 0600 serve.json; never through the proxy port.
 */
import http from 'node:http';
import { InvalidArgumentError, type Command } from 'commander';
import { InvalidInputError } from '../../engine/errors.js';
import { readRuntimeInfo, type RuntimeControl } from '../../engine/runtime-file.js';
import { ApiCallError, createApiClient, type ApiClient } from '../../shared/api-client.js';
import {
  API,
  type ApiOperation,
  type ApiRequest,
  type ApiResponse,
  type ApprovalOutcomeView,
} from '../../shared/api.js';
import { resolveHome, type GlobalOptions } from '../cli-context.js';

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_FOR_SECONDS = 7 * 86_400;
const CALL_TIMEOUT_MS = 10_000;

/** `--for 8h`: a whole number and one unit (s, m, h, d), up to 7 days. */
export function parseDuration(value: string): number {
  const match = /^(\d{1,7})([smhd])$/.exec(value.trim());
  const seconds = match ? Number(match[1]) * UNITS[match[2]!]! : NaN;
  if (!(seconds >= 1 && seconds <= MAX_FOR_SECONDS))
    throw new InvalidArgumentError('expected a duration like 30m, 8h or 2d (at most 7d)');
  return seconds;
}

/** One POST to serve's API; the answer is the contract's envelope. */
function post(control: RuntimeControl, op: string, request: unknown): Promise<unknown> {
  const body = JSON.stringify(request ?? {});
  const url = new URL(`api/${op}`, control.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${control.token}`,
        },
        timeout: CALL_TIMEOUT_MS,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`keygate serve answered ${res.statusCode} without JSON`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('keygate serve did not answer in 10 s')));
    req.on('error', (err) => reject(new Error(`cannot reach keygate serve: ${err.message}`)));
    req.end(body);
  });
}

/** Calls serve; its "no such approval" (InvalidInputError) is a usage error here too (exit 2). */
async function callServe<K extends 'approvals.list' | 'approvals.decide'>(
  options: GlobalOptions,
  op: K & ApiOperation,
  request: ApiRequest<K>,
): Promise<ApiResponse<K>> {
  const running = readRuntimeInfo(resolveHome(options));
  if (!running?.control) {
    throw new Error(
      'no keygate serve is running for this home (approvals live in it; the app shows its own)',
    );
  }
  const control = running.control;
  const client: ApiClient = createApiClient({ call: (o, r) => post(control, o, r) });
  try {
    const answer = await (client[op] as (request: ApiRequest<K>) => Promise<unknown>)(request);
    // Another process answered (maybe another version): read only what the contract promises.
    const checked = API[op].response.safeParse(answer);
    if (!checked.success) throw new Error(`keygate serve answered ${op} with something unexpected`);
    return checked.data as ApiResponse<K>;
  } catch (err) {
    if (err instanceof ApiCallError && err.errorName === 'InvalidInputError')
      throw new InvalidInputError(err.message);
    throw err;
  }
}

function printOutcome(outcome: ApprovalOutcomeView): void {
  const what = `${outcome.agent} → ${outcome.mapping} (${outcome.host})`;
  const line =
    outcome.decision === 'deny'
      ? `denied ${what}`
      : outcome.decision === 'always'
        ? `allowed ${what} always`
        : `allowed ${what} until ${outcome.until ?? '?'}`;
  process.stdout.write(`${line}\n`);
}

export function registerApprovals(program: Command): void {
  program
    .command('approvals')
    .description('list requests waiting for your approval (agents added with --ask)')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }, command: Command) => {
      const pending = await callServe(
        command.optsWithGlobals<GlobalOptions>(),
        'approvals.list',
        undefined,
      );
      if (options.json) {
        const rows = pending.map(({ id, agent, mapping, host, method, path, since }) => ({
          id,
          agent,
          mapping,
          host,
          method,
          path: path.split('?')[0],
          since,
        }));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (pending.length === 0) {
        process.stderr.write('keygate: nothing waiting for approval\n');
        return;
      }
      for (const p of pending)
        process.stdout.write(
          `${p.id}\t${p.agent}\t${p.mapping}\t${p.host}\t${p.method} ${p.path}\t${p.since}\n`,
        );
    });

  program
    .command('approve')
    .description('let a waiting request go on (default: this agent × mapping × host for 8 hours)')
    .argument('<id>', 'from `keygate approvals`')
    .option('--for <duration>', 'how long the grant lasts: 30m, 8h, 2d (at most 7d)', parseDuration)
    .option('--always', 'store the grant in settings (until the agent is removed)')
    .action(async (id: string, options: { for?: number; always?: boolean }, command: Command) => {
      if (options.always && options.for !== undefined)
        throw new InvalidInputError('use --for or --always, not both');
      const outcome = await callServe(
        command.optsWithGlobals<GlobalOptions>(),
        'approvals.decide',
        {
          id,
          decision: options.always ? 'always' : 'allow',
          ...(options.for !== undefined ? { forSeconds: options.for } : {}),
        },
      );
      printOutcome(outcome);
    });

  program
    .command('deny')
    .description('refuse a waiting request (403 keygate_approval_denied)')
    .argument('<id>', 'from `keygate approvals`')
    .action(async (id: string, _options: unknown, command: Command) => {
      const outcome = await callServe(
        command.optsWithGlobals<GlobalOptions>(),
        'approvals.decide',
        {
          id,
          decision: 'deny',
        },
      );
      printOutcome(outcome);
    });
}
