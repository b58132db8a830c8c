/**
 * A secret source whose value a test rotates, counting its reads, for the rotation tests
 * (secret-resolver-refresh, rotation-replay). Plus a clock the test moves by hand.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Secret } from '../../src/engine/secrets/secret.js';
import type {
  ReferenceCheck,
  SecretSource,
  SecretSourceError,
} from '../../src/engine/secrets/secret-source.js';

/** Its value the test rotates, slows (`delayMs`) or breaks (`fail`); counts its reads. */
export class RotatingSource implements SecretSource {
  calls = 0;
  delayMs = 0;
  fail: SecretSourceError | undefined;
  constructor(
    readonly scheme = 'rot',
    public value = 'key-v1',
  ) {}
  validate(): ReferenceCheck {
    return { ok: true };
  }
  async resolve(): Promise<Secret> {
    this.calls++;
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (this.fail) throw this.fail;
    return new Secret(this.value);
  }
  explain(): string {
    return 'rotating';
  }
}

export class FakeClock {
  t = 1;
  now(): number {
    return this.t;
  }
}
