import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

const REDACTED = '[secret]';

/**
 * A resolved credential. It never prints its value: `toString`, `toJSON` and `util.inspect` all
 * redact, so a Secret that slips into a log line, an error or an event shows `[secret]`.
 * Call `reveal()` only at the point of injection.
 */
export class Secret {
  // SECRET: never log. A private field, so even a structured clone or spread drops it.
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  /** A short, non-reversible fingerprint for `map test`: enough to tell two keys apart. */
  fingerprint(): string {
    return `sha256:${createHash('sha256').update(this.#value).digest('hex').slice(0, 12)}`;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
