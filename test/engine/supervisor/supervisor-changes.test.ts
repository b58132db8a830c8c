/**
 * What the supervisor tells its hosts (the tray, the settings page): it reports a change when
 * tokens are counted, so the menu's "tokens used today" line follows usage (issue 13 §2) without
 * waiting for the next activity or the 60 s refresh.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineSupervisor } from '../../../src/engine/supervisor/engine-supervisor.js';
import { silentLogger } from '../../../src/engine/log/logger.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the engine supervisor', () => {
  it('reports a change when usage is counted', async () => {
    const home = mkdtempSync(join(tmpdir(), 'keygate-supervisor-'));
    cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    const supervisor = await EngineSupervisor.start({
      engine: { home, port: 0, logger: silentLogger, env: {} },
    });
    cleanups.push(() => supervisor.stop());
    let changes = 0;
    supervisor.onChange(() => void changes++);
    supervisor.engine.usage.add(
      { agent: 'claude', mapping: 'api.anthropic.com', model: 'claude-test' },
      { requests: 1, inputTokens: 10, outputTokens: 2, cachedTokens: 0 },
    );
    await expect.poll(() => changes, { timeout: 5_000 }).toBeGreaterThan(0);
    const status = await supervisor.controller.handlers['proxy.status']();
    expect(status.usageToday).toBe(12);
  });
});
