import { describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate, schemaVersionOf } from '../../../src/engine/settings/migrations.js';
import { SETTINGS_SCHEMA_VERSION, settingsSchema } from '../../../src/shared/settings-schema.js';

describe('migrate', () => {
  it('takes a file without schemaVersion to v1', () => {
    const raw = { mappings: [] };
    const { settings, migrated } = migrate(raw);
    expect(migrated).toBe(true);
    expect(settings).toEqual({ mappings: [], schemaVersion: 1 });
    expect(raw).toEqual({ mappings: [] }); // the input is not mutated
  });

  it('leaves a current file alone', () => {
    const raw = { schemaVersion: SETTINGS_SCHEMA_VERSION };
    expect(migrate(raw)).toEqual({ settings: raw, migrated: false });
  });

  it('leaves what it cannot place to validation', () => {
    for (const raw of [null, 3, 'x', [], { schemaVersion: 'one' }]) {
      expect(migrate(raw)).toEqual({ settings: raw, migrated: false });
    }
  });

  it('leaves a newer file alone', () => {
    const raw = { schemaVersion: SETTINGS_SCHEMA_VERSION + 1 };
    expect(migrate(raw)).toEqual({ settings: raw, migrated: false });
  });

  it('chains from v0 to the current version, producing a valid file', () => {
    const versions = MIGRATIONS.map((step) => [step.from, step.to]);
    expect(versions[0]![0]).toBe(0);
    versions.forEach(([from, to], index) => {
      expect(to).toBe(from! + 1);
      if (index > 0) expect(from).toBe(versions[index - 1]![1]);
    });
    expect(versions.at(-1)![1]).toBe(SETTINGS_SCHEMA_VERSION);
    const { settings } = migrate({});
    expect(schemaVersionOf(settings)).toBe(SETTINGS_SCHEMA_VERSION);
    expect(settingsSchema.safeParse(settings).success).toBe(true);
  });
});
