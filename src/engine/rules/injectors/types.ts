/**
 * How a mapping writes its secret into a request: the interface every injector under this folder
 * implements, and all the proxy sees. The registry (`./index.ts`) picks one per mapping.
 */
import type { Secret } from '../../secrets/secret.js';

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
  /**
   * Writes the secret. Throws SecretUnavailableError (never echoing the value) when the secret
   * cannot be written safely: empty, or containing CR, LF, NUL or other control characters.
   */
  apply(target: InjectionTarget, secrets: InjectionSecrets): void;
  explain(): string;
}
