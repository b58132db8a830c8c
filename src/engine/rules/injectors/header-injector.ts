/** Any header, rendered from a template such as `Token {secret}`. */
import { InvalidInputError } from '../../errors.js';
import type { InjectionSecrets, InjectionTarget, Injector } from './types.js';
import {
  checkConfiguredValue,
  checkHeaderName,
  checkSecretValue,
  replaceHeader,
} from './header-rules.js';

const PLACEHOLDER = '{secret}';

export class HeaderInjector implements Injector {
  readonly name: string;
  // The format split around `{secret}` once, so applying is a join: no `String.replace`, whose
  // `$&`/`$'` patterns would rewrite a secret that happens to contain them.
  readonly #parts: readonly string[];

  constructor(
    name: string,
    readonly format: string,
  ) {
    this.name = checkHeaderName(name);
    if (!format.includes(PLACEHOLDER)) {
      throw new InvalidInputError(`header format "${format}" must contain ${PLACEHOLDER}`);
    }
    checkConfiguredValue(`header format "${format}"`, format);
    this.#parts = format.split(PLACEHOLDER);
  }

  apply(target: InjectionTarget, secrets: InjectionSecrets): void {
    const secret = secrets.primary.reveal();
    checkSecretValue('secret', secret, 'raw');
    replaceHeader(target, this.name, this.#parts.join(secret));
  }

  explain(): string {
    return `sets ${this.name}: ${this.format}, replacing any ${this.name} the agent sent`;
  }
}
