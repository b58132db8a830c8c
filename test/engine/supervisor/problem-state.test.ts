import { describe, expect, it } from 'vitest';
import { readProblemState } from '../../../src/engine/supervisor/problem-state.js';
import type { MappingView, ProxyStatus } from '../../../src/shared/api.js';

const status = (lastError?: string) =>
  ({ running: true, ...(lastError ? { lastError } : {}) }) as unknown as ProxyStatus;
const mapping = (name: string, stale?: string) =>
  ({ name, ...(stale ? { stale } : {}) }) as unknown as MappingView;

describe('readProblemState: the one read both hosts act on', () => {
  it('collects the stale mappings (for serve.json) and the alert state', async () => {
    const state = await readProblemState({
      handlers: {
        'proxy.status': async () => status(),
        'mappings.list': async () => [
          mapping('openai', 'op://AI/gone/key: not found'),
          mapping('ok'),
        ],
      },
      accounts: () => [],
    });
    expect(state.stale).toEqual({ openai: 'op://AI/gone/key: not found' });
    expect(state.alerts.mappings).toHaveLength(2);
    expect(state.alerts.proxyLastError).toBeUndefined();
  });

  it("reports the app's start error and failed action when the engine has none", async () => {
    const state = await readProblemState({
      handlers: { 'proxy.status': async () => status(), 'mappings.list': async () => [] },
      accounts: () => [],
      startError: () =>
        Object.assign(new Error('port 8790 on 127.0.0.1 is in use'), { name: 'PortInUseError' }),
      hostProblem: () => 'could not enable the proxy',
    });
    expect(state.alerts.startError).toEqual({
      name: 'PortInUseError',
      message: 'port 8790 on 127.0.0.1 is in use',
    });
    expect(state.alerts.proxyLastError).toBe('could not enable the proxy');
  });
});
