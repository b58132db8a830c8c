/**
 * The request of `usage.list` (api.ts), as a zod schema. Its own module because api.ts is loaded
 * by the settings page in the browser, where zod is not served; api.ts imports only the type.
 */
import { z } from 'zod';

/** Local days of usage the answer covers, today included (default 7, at most 90: the retention). */
export const USAGE_DEFAULT_DAYS = 7;
export const USAGE_MAX_DAYS = 90;

export const usageListRequestSchema = z
  .object({ days: z.number().int().min(1).max(USAGE_MAX_DAYS).optional() })
  .strict();

export type UsageListRequest = z.input<typeof usageListRequestSchema>;
