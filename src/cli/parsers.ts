import { InvalidArgumentError } from 'commander';

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return port;
}

export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'];

/** `--log-level`: a typo must not silently run at another level. */
export function parseLogLevelOption(value: string): string {
  if (!LOG_LEVELS.includes(value))
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}`);
  return value;
}
