import type { Command } from 'commander';
import type { TokenStatus } from '../../shared/api.js';
import { InvalidInputError } from '../../engine/errors.js';
import { dispatch } from '../../engine/dispatch.js';
import { withController, type GlobalOptions } from '../cli-context.js';
import { readSecretFromStdin } from '../read-secret.js';

function printStatus(status: TokenStatus): void {
  const source = {
    env: 'OP_SERVICE_ACCOUNT_TOKEN',
    file: 'stored (encrypted) in the Keygate home',
    none: 'none',
  }[status.tokenSource];
  process.stdout.write(`service-account token: ${source}\n`);
  if (status.desktopAccount)
    process.stdout.write(`1Password app account: ${status.desktopAccount}\n`);
  if (status.vaultCount !== undefined)
    process.stdout.write(`vaults visible: ${status.vaultCount}\n`);
  for (const account of status.accounts) {
    process.stdout.write(
      `account ${account.account} (${account.mode}): ${account.connected ? 'connected' : 'not connected'}, ` +
        `${account.readsThisHour}/${account.hourlyLimit} reads this hour` +
        `${account.lastSuccessAt ? `, last success ${account.lastSuccessAt}` : ''}` +
        `${account.lastError ? `, last error: ${account.lastError}` : ''}\n`,
    );
  }
  if (status.error) process.stdout.write(`error: ${status.error}\n`);
}

export function registerToken(program: Command): void {
  const token = program
    .command('token')
    .description('the 1Password connection (service-account token)');

  token
    .command('set')
    .description(
      'read a service-account token from stdin, check it with 1Password, and store it encrypted',
    )
    .action(async (_options: unknown, command: Command) => {
      const value = await readSecretFromStdin('Paste the 1Password service-account token: ');
      if (!value)
        throw new InvalidInputError(
          'no token on stdin (keygate token set < token-file, or paste it)',
        );
      const status = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'token.set', { token: value }),
      );
      process.stdout.write(`token stored; ${status.vaultCount ?? 0} vault(s) visible\n`);
      if (status.tokenSource === 'env') {
        process.stderr.write(
          'keygate: note: OP_SERVICE_ACCOUNT_TOKEN is set here and takes precedence over the stored token\n',
        );
      }
    });

  token
    .command('status')
    .description('show the connected account, vault count and reads this hour (never the token)')
    .action(async (_options: unknown, command: Command) => {
      const status = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'token.status'),
      );
      printStatus(status);
      if (status.error) process.exitCode = 1;
    });

  token
    .command('clear')
    .description('forget the stored token and the 1Password app account')
    .action(async (_options: unknown, command: Command) => {
      const status = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'token.clear'),
      );
      process.stdout.write('stored token cleared\n');
      if (status.tokenSource === 'env')
        process.stderr.write(
          'keygate: OP_SERVICE_ACCOUNT_TOKEN is still set in this environment\n',
        );
    });
}
