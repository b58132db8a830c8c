/**
 * Every mapping, compiled and indexed for per-request lookup. Exact hosts live in a Map; the
 * (few) wildcards in one list sorted by precedence, so a lookup is a Map get plus a short scan,
 * with no allocation and no regex compilation.
 *
 * Precedence, best first:
 *  1. the more specific host: exact, then the longest wildcard suffix;
 *  2. for one host pattern, mappings with a path glob before those without;
 *  3. among path globs, the more specific glob (see PathMatcher.specificity);
 *  4. the order in the settings file.
 * A request falls through to the next candidate when its port or path does not match, so an
 * exact mapping for `/v1/**` and a wildcard for everything else compose as expected.
 */
import type { Mapping } from '../../shared/settings-schema.js';
import { InvalidInputError } from '../errors.js';
import { CompiledMapping } from './compiled-mapping.js';

interface Ranked {
  readonly mapping: CompiledMapping;
  readonly index: number;
}

function compare(a: Ranked, b: Ranked): number {
  const am = a.mapping;
  const bm = b.mapping;
  return (
    bm.hostMatcher.specificity - am.hostMatcher.specificity ||
    (bm.pathMatcher?.specificity ?? -1) - (am.pathMatcher?.specificity ?? -1) ||
    a.index - b.index
  );
}

export class RuleTable {
  static readonly empty: RuleTable = new RuleTable([]);

  /** In settings order. */
  readonly mappings: readonly CompiledMapping[];
  /** Every distinct ref, in settings order, for bulk prefetch. */
  readonly refs: readonly string[];
  readonly #exact = new Map<string, readonly CompiledMapping[]>();
  readonly #wildcards: readonly CompiledMapping[];

  /** Throws InvalidInputError naming the first bad mapping. */
  constructor(mappings: readonly Mapping[]) {
    const compiled: CompiledMapping[] = [];
    const seen = new Map<string, number>();
    mappings.forEach((config, index) => {
      const label = `mapping #${index + 1} (${String(config.host)})`;
      let mapping: CompiledMapping;
      try {
        mapping = new CompiledMapping(config);
      } catch (error) {
        if (!(error instanceof InvalidInputError)) throw error;
        throw new InvalidInputError(`${label}: ${error.message}`, { cause: error });
      }
      // Two mappings for the same host, port and path would leave one silently unused.
      const first = seen.get(mapping.name);
      if (first !== undefined) {
        throw new InvalidInputError(
          `${label}: duplicates mapping #${first + 1} (${mapping.name}); remove one of them`,
        );
      }
      seen.set(mapping.name, index);
      compiled.push(mapping);
    });
    this.mappings = compiled;
    this.refs = [...new Set(compiled.flatMap((m) => m.refs))];

    const ranked = compiled.map((mapping, index) => ({ mapping, index })).sort(compare);
    const exact = new Map<string, CompiledMapping[]>();
    const wildcards: CompiledMapping[] = [];
    for (const { mapping } of ranked) {
      const host = mapping.hostMatcher.exactHost;
      if (host === undefined) {
        wildcards.push(mapping);
      } else {
        let list = exact.get(host);
        if (list === undefined) exact.set(host, (list = []));
        list.push(mapping);
      }
    }
    for (const [host, list] of exact) this.#exact.set(host, list);
    this.#wildcards = wildcards;
  }

  /**
   * Whether any mapping covers this host and port, whatever the path: decides at CONNECT time
   * whether to intercept or tunnel. `host` must be canonical.
   */
  hasHost(host: string, port: number): boolean {
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      for (const mapping of exact) if (mapping.matchesPort(port)) return true;
    }
    for (const mapping of this.#wildcards) if (mapping.matchesHost(host, port)) return true;
    return false;
  }

  /**
   * Whether any mapping covers this host on any port. Lets the proxy tell a mapped host asked
   * for over plaintext (refuse: the agent expects injection) from an unmapped one (pass).
   */
  hasHostOnAnyPort(host: string): boolean {
    if (this.#exact.has(host)) return true;
    for (const mapping of this.#wildcards) if (mapping.hostMatcher.matches(host)) return true;
    return false;
  }

  /**
   * Whether the path can change which mapping (and so which secret, or none) applies on this
   * host and port: some mapping covering it has a path glob. Admission refuses an ambiguous path
   * only then (proxy/admission.ts, rule 6).
   */
  pathDecides(host: string, port: number): boolean {
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      for (const mapping of exact)
        if (mapping.pathMatcher && mapping.matchesPort(port)) return true;
    }
    for (const mapping of this.#wildcards)
      if (mapping.pathMatcher && mapping.matchesHost(host, port)) return true;
    return false;
  }

  /**
   * The best mapping for a request, or undefined. `host` must be canonical; `path` is
   * origin-form and may include a query.
   */
  match(host: string, port: number, path: string): CompiledMapping | undefined {
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      for (const mapping of exact) {
        if (mapping.matchesPort(port) && mapping.matchesPath(path)) return mapping;
      }
    }
    for (const mapping of this.#wildcards) {
      if (mapping.matchesHost(host, port) && mapping.matchesPath(path)) return mapping;
    }
    return undefined;
  }
}
