/**
 * A sliding-hour request count for one budget: the times of the last `limit` admitted requests,
 * oldest first. Memory is bounded by the limit, whatever the traffic.
 */
export const HOUR_MS = 60 * 60 * 1000;

export class RequestWindow {
  readonly #times: number[] = [];

  /** Requests in the hour before `now`. */
  used(now: number): number {
    this.#expire(now);
    return this.#times.length;
  }

  /** Seconds until one more request fits under `limit` (0: it fits now). */
  waitSeconds(now: number, limit: number): number {
    this.#expire(now);
    if (this.#times.length < limit) return 0;
    const freedAt = this.#times[this.#times.length - limit]! + HOUR_MS;
    return Math.max(1, Math.ceil((freedAt - now) / 1000));
  }

  add(now: number, limit: number): void {
    this.#times.push(now);
    if (this.#times.length > limit) this.#times.splice(0, this.#times.length - limit);
  }

  #expire(now: number): void {
    let drop = 0;
    while (drop < this.#times.length && this.#times[drop]! <= now - HOUR_MS) drop++;
    if (drop > 0) this.#times.splice(0, drop);
  }
}
