import { EventEmitter } from 'node:events';
import type { ActivityEvent } from '../../shared/activity.js';

export type NewActivity = Omit<ActivityEvent, 'id' | 'at'> & { at?: string };

/**
 * A bounded ring of recent activity plus a live feed. Bounded so a busy agent cannot grow memory;
 * the UI shows the last 200.
 */
export class ActivityLog {
  readonly #capacity: number;
  readonly #ring: ActivityEvent[] = [];
  readonly #emitter = new EventEmitter();
  #nextId = 1;
  #injectedToday = 0;
  #today = '';

  constructor(capacity = 200) {
    this.#capacity = capacity;
    this.#emitter.setMaxListeners(100);
  }

  record(event: NewActivity): ActivityEvent {
    const full: ActivityEvent = {
      ...event,
      id: this.#nextId++,
      at: event.at ?? new Date().toISOString(),
    };
    if (this.#ring.length === this.#capacity) this.#ring.shift();
    this.#ring.push(full);
    if (full.outcome === 'injected') {
      const day = full.at.slice(0, 10);
      if (day !== this.#today) {
        this.#today = day;
        this.#injectedToday = 0;
      }
      this.#injectedToday++;
    }
    if (this.#emitter.listenerCount('event') > 0) this.#emitter.emit('event', full);
    return full;
  }

  recent(limit = this.#capacity): ActivityEvent[] {
    return this.#ring.slice(-limit);
  }

  get injectedToday(): number {
    return this.#today === new Date().toISOString().slice(0, 10) ? this.#injectedToday : 0;
  }

  subscribe(listener: (event: ActivityEvent) => void): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}
