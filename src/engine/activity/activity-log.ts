import { EventEmitter } from 'node:events';
import type { ActivityEvent } from '../../shared/activity.js';

/** What the proxy records: an event without its id, and when it arrived (epoch ms). */
export type NewActivity = Omit<ActivityEvent, 'id' | 'at'> & { readonly atMs?: number };

interface Entry {
  readonly id: number;
  readonly atMs: number;
  readonly event: NewActivity;
  /** The ActivityEvent, built the first time someone reads it. */
  view?: ActivityEvent;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A bounded ring of recent activity plus a live feed. Bounded so a busy agent cannot grow memory;
 * the UI shows the last 200.
 *
 * Recording runs once per proxied request, so it does as little as it can: a slot in a fixed ring
 * (no `shift()`), and the ISO time and the event object are only built when the UI reads them.
 */
export class ActivityLog {
  readonly #capacity: number;
  readonly #ring: (Entry | undefined)[];
  readonly #emitter = new EventEmitter();
  #recorded = 0;
  #injectedToday = 0;
  /** The UTC day `#injectedToday` counts: [start, start + 1 day). */
  #dayStart = Number.NEGATIVE_INFINITY;

  constructor(capacity = 200) {
    this.#capacity = capacity;
    this.#ring = new Array<Entry | undefined>(capacity);
    this.#emitter.setMaxListeners(100);
  }

  record(event: NewActivity): void {
    const atMs = event.atMs ?? Date.now();
    const entry: Entry = { id: this.#recorded + 1, atMs, event };
    this.#ring[this.#recorded % this.#capacity] = entry;
    this.#recorded++;
    if (event.outcome === 'injected') {
      if (atMs < this.#dayStart || atMs >= this.#dayStart + DAY_MS) {
        this.#dayStart = atMs - (atMs % DAY_MS);
        this.#injectedToday = 0;
      }
      this.#injectedToday++;
    }
    if (this.#emitter.listenerCount('event') > 0) this.#emitter.emit('event', viewOf(entry));
  }

  /** Oldest first, at most `limit`. */
  recent(limit = this.#capacity): ActivityEvent[] {
    const count = Math.max(0, Math.min(limit, this.#capacity, this.#recorded));
    const events: ActivityEvent[] = [];
    for (let i = this.#recorded - count; i < this.#recorded; i++) {
      const entry = this.#ring[i % this.#capacity];
      if (entry) events.push(viewOf(entry));
    }
    return events;
  }

  get injectedToday(): number {
    const now = Date.now();
    return now >= this.#dayStart && now < this.#dayStart + DAY_MS ? this.#injectedToday : 0;
  }

  subscribe(listener: (event: ActivityEvent) => void): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}

function viewOf(entry: Entry): ActivityEvent {
  if (entry.view) return entry.view;
  const { atMs: _atMs, ...fields } = entry.event;
  entry.view = Object.assign(fields, { id: entry.id, at: new Date(entry.atMs).toISOString() });
  return entry.view;
}
