/**
 * A mapping's secrets for the request path: from the resolver's memory when warm (no promise, no
 * allocation), resolved when cold, and the scrubber that keeps them out of every answer
 * (response-scrubbing.ts), made once per resolved secret rather than once per request.
 */
import { PLACEHOLDER_KEY } from '../../shared/presets.js';
import { SecretUnavailableError } from '../errors.js';
import type { CompiledMapping } from '../rules/compiled-mapping.js';
import type { InjectionSecrets } from '../rules/injectors/types.js';
import type { Secret } from '../secrets/secret.js';
import type { SecretResolver } from '../secrets/secret-resolver.js';
import { SecretScrubber } from './secret-scrubber.js';

const NO_USER = {};

export class SecretInjection {
  readonly #resolver: SecretResolver;
  readonly #scrubbers = new WeakMap<Secret, WeakMap<object, SecretScrubber>>();

  constructor(resolver: SecretResolver) {
    this.#resolver = resolver;
  }

  /** The mapping's secrets if all are in memory; undefined when any must be resolved. */
  cached(mapping: CompiledMapping): InjectionSecrets | undefined {
    const primary = this.#resolver.peek(mapping.config.ref);
    if (!primary) return undefined;
    const injector = mapping.config.injector;
    if (injector.type !== 'basic') return { primary };
    const user = this.#resolver.peek(injector.userRef);
    return user ? { primary, user } : undefined;
  }

  /** Rejects with SecretUnavailableError naming the mapping and the cause (never a value). */
  async resolve(mapping: CompiledMapping): Promise<InjectionSecrets> {
    const injector = mapping.config.injector;
    try {
      const [primary, user] = await Promise.all([
        this.#resolver.resolve(mapping.config.ref),
        injector.type === 'basic'
          ? this.#resolver.resolve(injector.userRef)
          : Promise.resolve<Secret | undefined>(undefined),
      ]);
      return user ? { primary, user } : { primary };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new SecretUnavailableError(
        `mapping ${mapping.name}: the credential is unavailable (${reason})`,
        { cause: err },
      );
    }
  }

  /**
   * Every form in which these secrets could come back: raw, URL-encoded, and Basic's base64.
   * `also`: secrets an earlier attempt of the same request carried (a rotation replay), caught
   * too; that scrubber is made for the one answer, not cached.
   */
  scrubberFor(secrets: InjectionSecrets, also?: InjectionSecrets): SecretScrubber {
    if (also) return new SecretScrubber([...forms(secrets), ...forms(also)], PLACEHOLDER_KEY);
    const byUser = this.#scrubbers.get(secrets.primary) ?? new WeakMap<object, SecretScrubber>();
    this.#scrubbers.set(secrets.primary, byUser);
    const key = secrets.user ?? NO_USER;
    let scrubber = byUser.get(key);
    if (!scrubber) {
      scrubber = new SecretScrubber(forms(secrets), PLACEHOLDER_KEY);
      byUser.set(key, scrubber);
    }
    return scrubber;
  }
}

function forms(secrets: InjectionSecrets): string[] {
  const primary = secrets.primary.reveal();
  const values = [primary, encodeURIComponent(primary)];
  if (secrets.user) {
    const user = secrets.user.reveal();
    values.push(user, Buffer.from(`${user}:${primary}`).toString('base64'));
  }
  return values;
}
