import { afterEach, describe, expect, it, vi } from 'vitest';
import { ActivityLog } from '../../../src/engine/activity/activity-log.js';
import type { ActivityEvent } from '../../../src/shared/activity.js';

const DAY = 24 * 60 * 60 * 1000;

afterEach(() => {
  vi.useRealTimers();
});

describe('ActivityLog', () => {
  it('keeps the last `capacity` events, oldest first, with ids and the arrival time', () => {
    const log = new ActivityLog(3);
    const start = Date.UTC(2026, 10, 28, 12, 0, 0);
    for (let i = 0; i < 5; i++)
      log.record({ outcome: 'tunneled', host: `h${i}.example`, port: 443, atMs: start + i });
    const recent = log.recent();
    expect(recent.map((e) => [e.id, e.host])).toEqual([
      [3, 'h2.example'],
      [4, 'h3.example'],
      [5, 'h4.example'],
    ]);
    expect(recent[0]?.at).toBe('2026-11-28T12:00:00.002Z');
    expect(recent[0]).not.toHaveProperty('atMs');
    expect(log.recent(2).map((e) => e.id)).toEqual([4, 5]);
    expect(log.recent(0)).toEqual([]);
    // The same event object each time it is read.
    expect(log.recent(1)[0]).toBe(log.recent(1)[0]);
  });

  it('counts injected requests per UTC day', () => {
    vi.useFakeTimers();
    const morning = Date.UTC(2026, 10, 28, 9, 0, 0);
    vi.setSystemTime(morning);
    const log = new ActivityLog();
    expect(log.injectedToday).toBe(0);
    log.record({ outcome: 'injected', host: 'a', port: 443 });
    log.record({ outcome: 'forwarded', host: 'a', port: 443 });
    log.record({ outcome: 'injected', host: 'a', port: 443 });
    expect(log.injectedToday).toBe(2);
    vi.setSystemTime(morning + DAY);
    expect(log.injectedToday).toBe(0);
    log.record({ outcome: 'injected', host: 'a', port: 443 });
    expect(log.injectedToday).toBe(1);
  });

  it('feeds subscribers each event as it is recorded, until they unsubscribe', () => {
    const log = new ActivityLog();
    const seen: ActivityEvent[] = [];
    const unsubscribe = log.subscribe((event) => seen.push(event));
    log.record({ outcome: 'denied', host: 'x', port: 443, status: 407, error: 'keygate_x' });
    unsubscribe();
    log.record({ outcome: 'denied', host: 'y', port: 443 });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ id: 1, host: 'x', status: 407, error: 'keygate_x' });
    expect(seen[0]).toBe(log.recent()[0]);
  });
});
