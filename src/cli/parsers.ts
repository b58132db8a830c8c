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

/** A whole number of seconds in [min, max], for `--secret-ttl` and the timeouts. */
export function secondsParser(min: number, max: number): (value: string) => number {
  return (value) => {
    const seconds = Number(value);
    if (!/^\d+$/.test(value.trim()) || seconds < min || seconds > max) {
      throw new InvalidArgumentError(`expected a whole number of seconds from ${min} to ${max}`);
    }
    return seconds;
  };
}

/** Seconds a resolved secret may be reused: 1 to 3600 (an hour). */
export const parseSecretTtl = secondsParser(1, 3600);

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
