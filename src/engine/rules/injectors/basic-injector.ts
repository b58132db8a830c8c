/**
 * `Authorization: Basic base64(user:password)` (RFC 7617 §2). The mapping's ref is the password;
 * `userRef` names a second secret holding the user-id.
 */
import { SecretUnavailableError } from '../../errors.js';
import type { InjectionSecrets, InjectionTarget, Injector } from './types.js';
import { checkSecretValue, replaceHeader } from './header-rules.js';

export class BasicInjector implements Injector {
  constructor(readonly userRef: string) {}

  apply(target: InjectionTarget, secrets: InjectionSecrets): void {
    if (secrets.user === undefined) {
      throw new SecretUnavailableError(
        `this mapping can't be used: the basic-auth user (${this.userRef}) was not resolved`,
      );
    }
    const user = secrets.user.reveal();
    const password = secrets.primary.reveal();
    // RFC 7617 §2: neither part may contain control characters, and the user-id may not
    // contain ':' because the first colon separates it from the password (which may have more).
    checkSecretValue('basic-auth user', user, 'encoded');
    checkSecretValue('password', password, 'encoded');
    if (user.includes(':')) {
      throw new SecretUnavailableError(
        `this mapping can't be used: the basic-auth user (${this.userRef}) contains ":", which RFC 7617 forbids in a user-id`,
      );
    }
    // UTF-8, the only charset RFC 7617 §2.1 defines.
    const credentials = Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
    replaceHeader(target, 'authorization', `Basic ${credentials}`);
  }

  explain(): string {
    return `sets Authorization: Basic base64(<user from ${this.userRef}>:<secret>) (RFC 7617), replacing any Authorization the agent sent`;
  }
}
