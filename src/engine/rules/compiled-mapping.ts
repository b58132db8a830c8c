/**
 * A mapping from the settings file, validated and compiled once into matchers and an injector.
 *
 * Port rule: a mapping with `port` matches that port only. Without one it matches 443, and also
 * 80 when it allows plaintext (a loopback `allowPlaintext` mapping is typically a local HTTP
 * service). The proxy passes the port the agent actually connected to; whether plaintext is
 * acceptable on that connection is the proxy's decision, made with `allowPlaintext`.
 */
import type { Mapping } from '../../shared/settings-schema.js';
import { uriHost } from '../../shared/uri-host.js';
import { InvalidInputError } from '../errors.js';
import { isLoopbackHost } from './host-name.js';
import { HostMatcher } from './host-pattern.js';
import { createInjector, type Injector } from './injectors/index.js';
import { PathMatcher } from './path-matcher.js';
import { PortMatcher } from './port-matcher.js';

export const DEFAULT_TLS_PORT = 443;

/**
 * The secret references a mapping needs, deduplicated: `[ref]`, or `[ref, userRef]` for basic
 * auth. The one place that knows which fields of a mapping are references; prefetch, account
 * lookup, stale flags, the live check and doctor all ask here (or `CompiledMapping.refs`).
 */
export function mappingRefs(mapping: Mapping): string[] {
  const refs = [mapping.ref];
  if (mapping.injector.type === 'basic' && mapping.injector.userRef !== mapping.ref) {
    refs.push(mapping.injector.userRef);
  }
  return refs;
}
export const DEFAULT_PLAINTEXT_PORT = 80;

export class CompiledMapping {
  readonly config: Mapping;
  /** `host[:port][path]`, e.g. `api.openai.com`, `*.example.com:8443/v1/**`, `[::1]:8080`. */
  readonly name: string;
  readonly injector: Injector;
  readonly hostMatcher: HostMatcher;
  /** Undefined when the mapping covers every path. */
  readonly pathMatcher: PathMatcher | undefined;
  readonly portMatcher: PortMatcher;
  /** Only ever true for loopback hosts; the constructor refuses anything else. */
  readonly allowPlaintext: boolean;
  /** Refs this mapping needs, deduplicated: [ref] or [ref, userRef]. */
  readonly refs: readonly string[];
  /** Whether port 80 also matches (no explicit port, plaintext allowed). */
  readonly #alsoPlaintextDefault: boolean;

  /** Throws InvalidInputError saying what is wrong. */
  constructor(config: Mapping) {
    this.config = config;
    this.hostMatcher = new HostMatcher(config.host);
    this.portMatcher = new PortMatcher(config.port ?? DEFAULT_TLS_PORT);
    this.pathMatcher = config.path === undefined ? undefined : new PathMatcher(config.path);
    this.injector = createInjector(config.injector);

    if (config.ref.length === 0) throw new InvalidInputError('ref is empty');
    this.refs = mappingRefs(config);

    this.allowPlaintext = config.allowPlaintext === true;
    // Plaintext puts the secret on the wire in the clear; only a loopback hop keeps it local.
    // A wildcard is never loopback, so this also refuses `*.…` with plaintext.
    if (this.allowPlaintext && !isLoopbackHost(this.hostMatcher.pattern)) {
      throw new InvalidInputError(
        `allowPlaintext is only allowed for loopback hosts (localhost, 127.0.0.0/8, ::1), not ${this.hostMatcher.pattern}`,
      );
    }
    this.#alsoPlaintextDefault = this.allowPlaintext && config.port === undefined;

    const host = uriHost(this.hostMatcher.pattern);
    const port =
      config.port === undefined || config.port === DEFAULT_TLS_PORT ? '' : `:${config.port}`;
    this.name = `${host}${port}${config.path ?? ''}`;
  }

  /** `host` must be canonical (see `canonicalHost`). */
  matchesHost(host: string, port: number): boolean {
    return this.matchesPort(port) && this.hostMatcher.matches(host);
  }

  matchesPort(port: number): boolean {
    return (
      this.portMatcher.matches(port) ||
      (this.#alsoPlaintextDefault && port === DEFAULT_PLAINTEXT_PORT)
    );
  }

  /** `path` is origin-form and may include a query, which is ignored. */
  matchesPath(path: string): boolean {
    return this.pathMatcher === undefined || this.pathMatcher.matches(path);
  }

  explain(): string {
    const ports = this.#alsoPlaintextDefault
      ? `port ${DEFAULT_TLS_PORT} or ${DEFAULT_PLAINTEXT_PORT}`
      : this.portMatcher.explain();
    const parts = [this.hostMatcher.explain(), ports];
    if (this.pathMatcher !== undefined) parts.push(this.pathMatcher.explain());
    const plaintext = this.allowPlaintext ? ' (plaintext HTTP allowed)' : '';
    return `${this.name}: ${parts.join(', ')}; ${this.injector.explain()} from ${this.config.ref}${plaintext}`;
  }
}
