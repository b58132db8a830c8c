/**
 * What `usage.list` answers (`keygate usage`, the Activity section): the rows of the last N local
 * days, newest first, from the running engine's store (saved and not yet written counts) or,
 * without one, from usage.json, which a running Keygate writes within FLUSH_DELAY_MS of an answer.
 */
import { join } from 'node:path';
import type { UsageRowView } from '../../shared/api.js';
import { InvalidInputError } from '../errors.js';
import {
  USAGE_DEFAULT_DAYS,
  usageListRequestSchema,
  type UsageListRequest,
} from '../../shared/usage-request.js';
import {
  localDay,
  localDayBefore,
  readUsageFile,
  USAGE_FILE,
  UsageFileError,
  type UsageRow,
  type UsageStore,
} from './usage-store.js';

/** The request checked at the boundary (HTTP and IPC bring anything). */
export function parseUsageRequest(request: unknown): { days: number } {
  const parsed = usageListRequestSchema.safeParse(request ?? {});
  if (!parsed.success)
    throw new InvalidInputError(
      `usage.list: days must be a whole number from 1 to 90 (${parsed.error.issues[0]?.message ?? 'invalid'})`,
    );
  return { days: parsed.data.days ?? USAGE_DEFAULT_DAYS };
}

function compare(a: UsageRow, b: UsageRow): number {
  for (const field of ['day', 'agent', 'mapping', 'model'] as const) {
    if (a[field] === b[field]) continue;
    // Days newest first, the rest alphabetically.
    const order = a[field] < b[field] ? -1 : 1;
    return field === 'day' ? -order : order;
  }
  return 0;
}

export interface UsageSummaryOptions {
  readonly request: UsageListRequest | undefined;
  /** The running engine's store, when there is one in this process. */
  readonly store: UsageStore | undefined;
  readonly home: string;
  readonly now?: number;
}

export function usageRows(options: UsageSummaryOptions): UsageRowView[] {
  const { days } = parseUsageRequest(options.request);
  const now = options.now ?? Date.now();
  const oldest = localDayBefore(now, days - 1);
  const rows = options.store?.rows() ?? readUsageFile(join(options.home, USAGE_FILE));
  return rows
    .filter((row) => row.day >= oldest)
    .sort(compare)
    .map((row) => ({ ...row }));
}

/** Input plus output tokens every agent used on today's local day. */
export function tokensToday(store: UsageStore | undefined, home: string, now = Date.now()): number {
  const today = localDay(now);
  let rows: UsageRow[];
  try {
    rows = store?.rows() ?? readUsageFile(join(home, USAGE_FILE));
  } catch (err) {
    // Status must answer with a damaged usage.json too; `keygate usage` names the damage.
    if (err instanceof UsageFileError) return 0;
    throw err;
  }
  return rows
    .filter((row) => row.day === today)
    .reduce((sum, row) => sum + row.inputTokens + row.outputTokens, 0);
}
