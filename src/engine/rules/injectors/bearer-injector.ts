/** `Authorization: Bearer <secret>` (RFC 6750 §2.1), replacing whatever the agent sent. */
import type { InjectionSecrets, InjectionTarget, Injector } from './types.js';
import { checkSecretValue, replaceHeader } from './header-rules.js';

export class BearerInjector implements Injector {
  apply(target: InjectionTarget, secrets: InjectionSecrets): void {
    const token = secrets.primary.reveal();
    // RFC 6750's b64token is stricter, but real tokens (JWTs, `sk-…`) all fit; refuse only what
    // would break the header.
    checkSecretValue('secret', token, 'raw');
    replaceHeader(target, 'authorization', `Bearer ${token}`);
  }

  explain(): string {
    return 'sets Authorization: Bearer <secret> (RFC 6750), replacing any Authorization the agent sent';
  }
}
