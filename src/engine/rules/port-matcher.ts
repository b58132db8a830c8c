/** Which port a mapping covers. One port per mapping: a different port is a different service. */
import { InvalidInputError } from '../errors.js';

export class PortMatcher {
  constructor(readonly port: number) {
    // TCP ports are 16-bit and 0 means "any" to bind(), never a real destination (RFC 6335 §6).
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InvalidInputError(`port ${String(port)} is not an integer from 1 to 65535`);
    }
  }

  matches(port: number): boolean {
    return port === this.port;
  }

  explain(): string {
    return `port ${this.port}`;
  }
}
