/** Display helpers: times, durations, shell lines. Pure, no DOM. */
import type { EnvVariable, ProxyStatus } from '../shared/api.js';
import { shQuote } from '../shared/shell-quote.js';

export function timeOfDay(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

export function dateTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function date(iso: string): string {
  const value = new Date(iso);
  if (Number.isNaN(value.getTime())) return iso;
  return value.toLocaleDateString(undefined, { dateStyle: 'medium' });
}

export function latency(ms: number | undefined): string {
  if (ms === undefined) return '';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Path for display: the engine already drops the query string; never show one regardless. */
export function pathOnly(path: string | undefined): string {
  if (path === undefined) return '';
  const cut = path.search(/[?#]/);
  return cut === -1 ? path : path.slice(0, cut);
}

/** `keygate env`'s output: one `export NAME='value'` line per variable. */
export function shLines(variables: readonly EnvVariable[]): string {
  return variables.map(({ name, value }) => `export ${name}=${shQuote(value)}`).join('\n');
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

export function portOf(address: string | undefined): string {
  if (!address) return '—';
  try {
    return new URL(address).port || '—';
  } catch {
    return '—';
  }
}

/** Where the proxy listens, and why it may not be the saved port. */
export function portDetail(status: ProxyStatus): string {
  const listening = portOf(status.address);
  if (!status.running) return `Saved port ${status.port}; the proxy is off`;
  if (listening !== String(status.port)) {
    return `Listening on ${listening}: keygate serve --port pins it while it runs`;
  }
  return `Listening on ${listening}`;
}

/** A budget limit as typed in the Agents table: null is "no limit" (empty), else a whole number ≥ 1. */
export function parseLimit(text: string): number | null | { error: string } {
  const trimmed = text.trim().replace(/[_,\s]/g, '');
  if (trimmed === '') return null;
  if (!/^\d+$/.test(trimmed)) return { error: 'a limit is a whole number (empty: no limit)' };
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value) || value < 1) return { error: 'a limit is at least 1' };
  return value;
}
