/**
 * How a mapping writes its secret into a request. One class per kind, under `injectors/`; the
 * proxy only sees this interface.
 */
import type { InjectorConfig } from '../../shared/settings-schema.js';
import { InvalidInputError } from '../errors.js';
import type { Secret } from '../secrets/secret.js';
import { ApiKeyInjector } from './injectors/api-key-injector.js';
import { BasicInjector } from './injectors/basic-injector.js';
import { BasicUserInjector } from './injectors/basic-user-injector.js';
import { BearerInjector } from './injectors/bearer-injector.js';
import { HeaderInjector } from './injectors/header-injector.js';
import { QueryInjector } from './injectors/query-injector.js';

export interface InjectionTarget {
  /** Lower-case keys, like Node's IncomingHttpHeaders; mutated in place. */
  headers: Record<string, string | string[] | undefined>;
  /** Origin-form path and query (RFC 9112 §3.2.1); an injector may replace it. */
  path: string;
}

export interface InjectionSecrets {
  primary: Secret;
  /** The basic-auth user-id, for `basic` mappings. */
  user?: Secret;
}

export interface Injector {
  readonly type: InjectorConfig['type'];
  /**
   * Writes the secret. Throws SecretUnavailableError (never echoing the value) when the secret
   * cannot be written safely: empty, or containing CR, LF, NUL or other control characters.
   */
  apply(target: InjectionTarget, secrets: InjectionSecrets): void;
  explain(): string;
  /** Header names this injector writes (lower-case), so the proxy can strip agent-sent copies. */
  readonly headerNames: readonly string[];
}

/** Throws InvalidInputError when the config cannot be used (bad header name, format, …). */
export function createInjector(config: InjectorConfig): Injector {
  switch (config.type) {
    case 'bearer':
      return new BearerInjector();
    case 'header':
      return new HeaderInjector(config.name, config.format);
    case 'api-key':
      return new ApiKeyInjector(config.name);
    case 'basic':
      return new BasicInjector(config.userRef);
    case 'basic-user':
      return new BasicUserInjector(config.user);
    case 'query':
      return new QueryInjector(config.param);
    default: {
      // Settings are schema-checked, but a hand-edited file must fail loudly, not inject nothing.
      const unknown: { type?: unknown } = config;
      throw new InvalidInputError(`unknown injector type ${JSON.stringify(unknown.type)}`);
    }
  }
}
