/**
 * The injector registry: one class per `InjectorConfig` kind, chosen here. The interface lives in
 * `./types.ts`, so the implementations import it without importing this file back.
 */
import type { InjectorConfig } from '../../../shared/settings-schema.js';
import { InvalidInputError } from '../../errors.js';
import { ApiKeyInjector } from './api-key-injector.js';
import { BasicInjector } from './basic-injector.js';
import { BasicUserInjector } from './basic-user-injector.js';
import { BearerInjector } from './bearer-injector.js';
import { HeaderInjector } from './header-injector.js';
import { QueryInjector } from './query-injector.js';
import type { Injector } from './types.js';

export type { InjectionSecrets, InjectionTarget, Injector } from './types.js';

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
