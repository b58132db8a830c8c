/**
 * `x-api-key` style: set the key header and remove `Authorization`. SDKs given a placeholder key
 * often also send `Authorization: Bearer <placeholder>`, and some APIs try that header first.
 */
import type { InjectionSecrets, InjectionTarget, Injector } from './types.js';
import { checkHeaderName, checkSecretValue, removeHeader, replaceHeader } from './header-rules.js';

export class ApiKeyInjector implements Injector {
  readonly name: string;

  constructor(name: string) {
    this.name = checkHeaderName(name);
  }

  apply(target: InjectionTarget, secrets: InjectionSecrets): void {
    const secret = secrets.primary.reveal();
    checkSecretValue('secret', secret, 'raw');
    // Remove first: with a key header named `authorization` the set must win.
    removeHeader(target, 'authorization');
    replaceHeader(target, this.name, secret);
  }

  explain(): string {
    return this.name === 'authorization'
      ? 'sets authorization: <secret>, replacing any Authorization the agent sent'
      : `sets ${this.name}: <secret> and removes any Authorization the agent sent`;
  }
}
