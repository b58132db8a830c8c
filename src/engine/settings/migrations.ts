/**
 * Upgrades of the settings file from older schema versions. Each step takes the raw JSON of one
 * version to the next, so a file from any older Keygate walks the chain up to
 * `SETTINGS_SCHEMA_VERSION`. Steps run on unvalidated JSON: validation happens after the last step,
 * against the current schema only, so no step has to know about schemas it is not part of.
 *
 * We keep our own chain rather than conf's `migrations` option because conf keys migrations by the
 * app's semver and records them in an `__internal__` key of the file, while the file's contract is
 * the integer `schemaVersion` that both `keygate serve` and the app read.
 */
import { SETTINGS_SCHEMA_VERSION } from '../../shared/settings-schema.js';

type RawSettings = Record<string, unknown>;

interface Migration {
  /** The version this step reads; 0 is a file from before `schemaVersion` existed. */
  readonly from: number;
  readonly to: number;
  readonly up: (settings: RawSettings) => RawSettings;
}

/** Ordered by `from`; each step's `to` is the next step's `from`. */
export const MIGRATIONS: readonly Migration[] = [
  // The first files had the same shape as v1 but no version marker.
  { from: 0, to: 1, up: (settings) => ({ ...settings, schemaVersion: 1 }) },
];

function isRecord(value: unknown): value is RawSettings {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The schema version a raw settings value claims: 0 when it has none, `undefined` when it is not
 * an object or its version is not a number (validation reports that; migrations cannot guess).
 */
export function schemaVersionOf(raw: unknown): number | undefined {
  if (!isRecord(raw)) return undefined;
  const version = raw['schemaVersion'];
  if (version === undefined) return 0;
  return typeof version === 'number' && Number.isFinite(version) ? version : undefined;
}

/**
 * Applies every step from the raw value's version up. A value this code cannot place (not an
 * object, a non-numeric version, or a version newer than ours) is returned untouched; the caller
 * decides whether that is corrupt or from a newer Keygate.
 */
export function migrate(raw: unknown): { settings: unknown; migrated: boolean } {
  let version = schemaVersionOf(raw);
  if (!isRecord(raw) || version === undefined || version >= SETTINGS_SCHEMA_VERSION) {
    return { settings: raw, migrated: false };
  }
  let settings: RawSettings = raw;
  let migrated = false;
  for (const step of MIGRATIONS) {
    if (step.from !== version) continue;
    settings = step.up(settings);
    version = step.to;
    migrated = true;
  }
  return { settings, migrated };
}
