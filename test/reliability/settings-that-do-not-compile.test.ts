/**
 * A settings file that passes the schema but does not compile, written while `keygate serve`
 * runs (issue 9 §4): serve must keep its last good settings and log why, as it does for garbage,
 * instead of exiting on the listener's throw.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expectHealthy } from '../helpers/bystanders.js';
import { keygate, startServe, tempHome, type ServeHandle } from '../helpers/keygate-process.js';

const WAIT = { timeout: 15_000, interval: 100 };
let serve: ServeHandle | undefined;
let cleanup: (() => void) | undefined;

afterEach(async () => {
  await serve?.stop();
  serve = undefined;
  cleanup?.();
});

interface SettingsFile {
  mappings: Record<string, unknown>[];
  agents: { name: string; hosts?: string[] }[];
}

describe('serve with a settings file that does not compile', () => {
  it.each([
    {
      name: 'a duplicate mapping that differs only in case (API.OPENAI.COM beside api.openai.com)',
      spoil: (file: SettingsFile) => {
        file.mappings.push({ ...file.mappings[0], host: 'API.OPENAI.COM' });
      },
      reason: /duplicates mapping #1/,
    },
    {
      name: 'an agent granted "*"',
      spoil: (file: SettingsFile) => {
        file.agents[0]!.hosts = ['*'];
      },
      reason: /agents in settings are invalid/,
    },
  ])(
    '$name: keeps the last good settings, logs why, and follows the next good file',
    async ({ spoil, reason }) => {
      const scratch = tempHome();
      cleanup = scratch.cleanup;
      const { home } = scratch;
      expect(
        keygate(['map', 'add', 'api.openai.com', 'env://OPENAI_API_KEY'], { home }).status,
      ).toBe(0);
      serve = await startServe(home);
      const settingsPath = join(home, 'settings.json');
      const good = readFileSync(settingsPath, 'utf8');

      const spoilt = JSON.parse(good) as SettingsFile;
      spoil(spoilt);
      writeFileSync(settingsPath, JSON.stringify(spoilt));

      await vi.waitFor(
        () => expect(serve?.stderr()).toMatch(/keeping the last good settings/),
        WAIT,
      );
      const warning = serve
        .stderr()
        .split('\n')
        .find((line) => line.includes('does not compile'));
      expect(warning).toMatch(reason);
      expect(serve.child.exitCode).toBeNull();
      await expectHealthy(serve.port);

      // Still following the file: the next good write is applied.
      const fixed = JSON.parse(good) as SettingsFile;
      fixed.mappings.push({ ...fixed.mappings[0], host: 'api.anthropic.com' });
      writeFileSync(settingsPath, JSON.stringify(fixed));
      await vi.waitFor(() => expect(serve?.stderr()).toMatch(/rules reloaded.*mappings=2/), WAIT);
      expect(serve.child.exitCode).toBeNull();
    },
  );
});
