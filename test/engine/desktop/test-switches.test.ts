import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  dropTestSwitches,
  TEST_SWITCHES,
  USER_SWITCHES,
} from '../../../src/engine/desktop/test-switches.js';
import { REPO_ROOT } from '../../helpers/keygate-process.js';

describe('test-only switches', () => {
  it('are dropped from the environment of a packaged app, and only there', () => {
    const env = { KEYGATE_OP_CLIENT_MODULE: '/tmp/evil.mjs', KEYGATE_HOME: '/h', PATH: '/bin' };
    expect(dropTestSwitches({ ...env }, false)).toEqual([]);
    const packaged = { ...env };
    expect(dropTestSwitches(packaged, true)).toEqual(['KEYGATE_OP_CLIENT_MODULE']);
    expect(packaged).toEqual({ KEYGATE_HOME: '/h', PATH: '/bin' });
  });

  it('cover every KEYGATE_* variable the sources read (each one is test-only or for users)', () => {
    const names = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts') || entry.name.endsWith('.cts')) {
          const source = readFileSync(path, 'utf8');
          // `env.KEYGATE_X`, `env['KEYGATE_X']`, or a constant `= 'KEYGATE_X'` used as a name.
          for (const m of source.matchAll(
            /env(?:\.|\[')(KEYGATE_[A-Z_]+)|=\s*'(KEYGATE_[A-Z_]+)'/g,
          ))
            names.add(m[1] ?? m[2] ?? '');
        }
      }
    };
    walk(join(REPO_ROOT, 'src'));
    expect(names.size).toBeGreaterThan(0);
    const known = new Set([...TEST_SWITCHES, ...USER_SWITCHES]);
    expect([...names].filter((name) => !known.has(name))).toEqual([]);
  });
});
