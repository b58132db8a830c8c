/**
 * Which request paths a mapping covers, as a glob: `*` matches within one segment, `**` (a whole
 * segment) matches any number of segments, including none. `/v1/**` matches `/v1`, `/v1/` and
 * `/v1/a/b`, not `/v10`.
 *
 * Matching is case-sensitive, on the path as admission normalised it (proxy/request-path.ts:
 * dot segments removed, unreserved percent-encodings decoded), which is the path the upstream
 * receives. A path cannot move a secret to another host, only pick among the mappings of the
 * host it was sent to.
 */
import { InvalidInputError } from '../errors.js';

/** A path already in a query-free glob; `?` would be read as the start of the query. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const FORBIDDEN = /[\s?#\x00-\x1f\x7f]/;

export class PathMatcher {
  /**
   * Higher wins among globs that match one path: a glob without wildcards beats any glob, then
   * more literal characters beat fewer (`/v1/chat/**` beats `/v1/**`).
   */
  readonly specificity: number;
  // Compiled once here; the proxy calls `matches` for every request.
  readonly #regex: RegExp;

  constructor(readonly glob: string) {
    if (!glob.startsWith('/')) {
      throw new InvalidInputError(`path "${glob}": a path glob must start with "/"`);
    }
    if (FORBIDDEN.test(glob)) {
      throw new InvalidInputError(
        `path "${glob}": must not contain whitespace, control characters, "?" or "#"; give only the path, without a query`,
      );
    }

    let source = '^';
    let literal = 0;
    let previousGlobstar = false;
    for (const segment of glob.slice(1).split('/')) {
      if (segment === '**') {
        // `/**/**` means the same as `/**`; one group keeps the regex free of nested repetition.
        if (!previousGlobstar) source += '(?:/[^?]*)?';
        previousGlobstar = true;
        continue;
      }
      if (segment.includes('**')) {
        throw new InvalidInputError(
          `path "${glob}": "**" must be a whole segment (/a/**/b); use "*" inside a segment`,
        );
      }
      previousGlobstar = false;
      source += '/';
      literal += 1;
      for (const char of segment) {
        if (char === '*') {
          source += '[^/?]*';
        } else {
          source += char.replace(/[\\^$.|+()[\]{}]/, '\\$&');
          literal += 1;
        }
      }
    }
    // Accept an optional query so callers need not strip it (and allocate) first.
    source += '(?:\\?.*)?$';

    this.#regex = new RegExp(source, 's');
    this.specificity = glob.includes('*') ? literal : 100_000 + literal;
  }

  /** `path` is origin-form (RFC 9112 §3.2.1); a query, if present, is ignored. */
  matches(path: string): boolean {
    return this.#regex.test(path);
  }

  explain(): string {
    return `path matches ${this.glob}`;
  }
}
