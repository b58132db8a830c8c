import { describe, expect, it } from 'vitest';
import type { MappingView, OnePasswordAccountStatus } from '../../src/shared/api.js';
import { coalesce, currentAlerts, newAlerts, type AlertState } from '../../src/shared/alerts.js';

const calm: AlertState = { accounts: [], mappings: [] };

const mapping = (name: string, stale?: string): MappingView => ({
  name,
  host: name,
  ref: 'op://Dev/OpenAI/credential',
  injector: { type: 'bearer' },
  explain: 'Authorization: Bearer <op://Dev/OpenAI/credential>',
  ...(stale ? { stale } : {}),
});

const account = (
  lastError?: string,
  problem?: OnePasswordAccountStatus['problem'],
): OnePasswordAccountStatus => ({
  account: 'default',
  mode: 'service-account',
  connected: lastError === undefined,
  readsThisHour: 3,
  hourlyLimit: 1000,
  ...(lastError ? { lastError } : {}),
  ...(problem ? { problem } : {}),
});

describe('currentAlerts', () => {
  it('is quiet when nothing is wrong', () => {
    expect(currentAlerts(calm)).toEqual([]);
    expect(currentAlerts({ ...calm, accounts: [account()], mappings: [mapping('a.com')] })).toEqual(
      [],
    );
  });

  it('reports the port in use, from a failed start or a failed re-enable', () => {
    const fromStart = currentAlerts({
      ...calm,
      startError: { name: 'PortInUseError', message: 'port 8790 on 127.0.0.1 is in use' },
    });
    expect(fromStart).toEqual([
      {
        key: 'port-in-use',
        title: 'Keygate cannot listen',
        body: 'port 8790 on 127.0.0.1 is in use',
      },
    ]);
    const fromToggle = currentAlerts({
      ...calm,
      proxyLastError: 'listen EADDRINUSE 127.0.0.1:8790',
    });
    expect(fromToggle.map((a) => a.key)).toEqual(['port-in-use']);
    // Other start failures are the tray's business, not a port notification.
    expect(
      currentAlerts({ ...calm, startError: { name: 'SettingsError', message: 'bad agents' } }),
    ).toEqual([]);
  });

  it('titles a 1Password account failure by the problem recorded, not by its words', () => {
    const [auth] = currentAlerts({
      ...calm,
      accounts: [account('service account token is invalid', 'sign-in')],
    });
    expect(auth).toMatchObject({ key: 'onepassword:default', title: '1Password sign-in failed' });
    expect(auth?.body).toBe('Service account: service account token is invalid');
    const [limit] = currentAlerts({
      ...calm,
      accounts: [account('rate limit exceeded', 'rate-limit')],
    });
    expect(limit?.title).toBe('1Password rate limit reached');
    // The real SDK's words for "no route" start with "authentication error": still unreachable.
    const [down] = currentAlerts({
      ...calm,
      accounts: [account('authentication error: … error sending request', 'unreachable')],
    });
    expect(down?.title).toBe('1Password could not be reached');
    const [unknown] = currentAlerts({ ...calm, accounts: [account('token auth expired')] });
    expect(unknown?.title).toBe('1Password is unavailable');
  });

  it('reports each stale mapping by name and reason', () => {
    const alerts = currentAlerts({
      ...calm,
      mappings: [mapping('api.openai.com', 'item not found'), mapping('ok.com')],
    });
    expect(alerts).toEqual([
      {
        key: 'stale:api.openai.com',
        title: 'A mapping has gone stale',
        body: 'api.openai.com: item not found',
      },
    ]);
  });
});

describe('newAlerts (edge-triggered)', () => {
  it('notifies once while a problem lasts, and again after it cleared and came back', () => {
    const problem = currentAlerts({ ...calm, mappings: [mapping('a.com', 'gone')] });
    let active = new Set<string>();
    const step = (current: typeof problem) => {
      const fresh = newAlerts(active, current);
      active = new Set(current.map((a) => a.key));
      return fresh.map((a) => a.key);
    };
    expect(step(problem)).toEqual(['stale:a.com']);
    expect(step(problem)).toEqual([]);
    expect(step([])).toEqual([]);
    expect(step(problem)).toEqual(['stale:a.com']);
  });
});

describe('coalesce', () => {
  it('shows at most three, summarising the rest', () => {
    const many = currentAlerts({
      ...calm,
      mappings: ['a', 'b', 'c', 'd', 'e'].map((n) => mapping(`${n}.com`, 'gone')),
    });
    const shown = coalesce(many);
    expect(shown).toHaveLength(3);
    expect(shown[2]).toMatchObject({
      key: 'summary',
      body: '3 more problems; open Settings for details.',
    });
    expect(coalesce(many.slice(0, 3))).toEqual(many.slice(0, 3));
  });
});
