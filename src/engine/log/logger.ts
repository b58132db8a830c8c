/**
 * The engine's only way to speak. http-mitm-proxy's own console output is routed here too
 * (docs/decisions/0002, defect 7), so a user running `keygate serve` sees one consistent stream on stderr.
 * Values are passed as fields; a `Secret` among them prints as `[secret]` (see secret.ts).
 */
import { inspect } from 'node:util';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
}

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  return value && value in RANK ? (value as LogLevel) : fallback;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(`${value.name}: ${value.message}`);
  if (typeof value === 'object' && value !== null)
    return inspect(value, { breakLength: Infinity, depth: 3 });
  return String(value);
}

export function createLogger(options: { level?: LogLevel; sink?: LogSink } = {}): Logger {
  const threshold = RANK[options.level ?? 'info'];
  const sink: LogSink = options.sink ?? ((line) => process.stderr.write(line + '\n'));
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] > threshold) return;
    let line = `${new Date().toISOString()} ${level.padEnd(5)} ${msg}`;
    if (fields)
      for (const [key, value] of Object.entries(fields)) line += ` ${key}=${formatValue(value)}`;
    sink(line);
  };
  return {
    error: (msg, fields) => write('error', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    debug: (msg, fields) => write('debug', msg, fields),
    enabled: (level) => RANK[level] <= threshold,
  };
}

export const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  enabled: () => false,
};
