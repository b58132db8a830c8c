/**
 * The path a mapping is matched on is the path the upstream will act on. An upstream resolves
 * `/v1/../admin` and `/v1/%2e%2e/admin` to `/admin` (RFC 3986 §5.2.4, §6.2.2), so matching the
 * raw bytes would let `--path '/v1/**'` hand the key to `/admin` (issue 9 §2). Keygate
 * normalises first, forwards the normalised path, and matches on that same string:
 *
 *  - percent-encoded unreserved characters and `.` are decoded (§6.2.2.2), and hex digits of the
 *    encodings kept are upper-cased (§6.2.2.1);
 *  - dot segments are removed (§5.2.4);
 *  - the query is kept as it was.
 *
 * Some paths mean different things to different servers, and no normal form settles them: an
 * encoded `/` or `\` (`%2F`, `%5C`: a segment to one server, a separator to another), a literal
 * `\` (a separator on IIS and some routers), and a dot segment with parameters (`..;x`, which
 * Tomcat and Spring treat as `..`). Those are reported as ambiguous; admission refuses them where
 * the path decides which secret applies.
 */

export type NormalisedPath =
  { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** `%XX` sequences: unreserved ones decoded, the rest upper-cased; undefined for an encoded separator. */
function decodeUnreserved(segment: string): string | undefined {
  if (!segment.includes('%')) return segment;
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i]!;
    if (char !== '%' || i + 2 >= segment.length) {
      out += char;
      continue;
    }
    const hex = segment.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out += char;
      continue;
    }
    const decoded = String.fromCharCode(parseInt(hex, 16));
    if (decoded === '/' || decoded === '\\') return undefined;
    out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}

/** RFC 3986 §5.2.4 on a path already split into decoded segments (the first is the empty root). */
function removeDotSegments(segments: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..' && out.length > 1) out.pop();
      // A trailing dot segment leaves the directory it names: `/a/b/..` is `/a/`.
      if (last) out.push('');
      continue;
    }
    out.push(segment);
  }
  return out;
}

/**
 * Normalises an origin-form request-target (`/path?query`). A target that is not origin-form
 * (does not start with `/`) is reported as ambiguous: the caller decides what else it may be.
 */
export function normaliseRequestPath(target: string): NormalisedPath {
  if (!target.startsWith('/')) return { ok: false, reason: 'is not an origin-form path' };
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q);
  // The common case (no dot, no percent, no backslash) costs one scan and no allocation.
  if (!/[.%\\;]/.test(rawPath)) return { ok: true, path: target };
  if (rawPath.includes('\\')) return { ok: false, reason: 'contains "\\"' };
  const segments: string[] = [];
  for (const raw of rawPath.split('/')) {
    const segment = decodeUnreserved(raw);
    if (segment === undefined) return { ok: false, reason: 'contains an encoded "/" or "\\"' };
    const semicolon = segment.indexOf(';');
    if (semicolon >= 0) {
      const name = segment.slice(0, semicolon);
      if (name === '.' || name === '..')
        return {
          ok: false,
          reason: `has a dot segment with parameters ("${segment.slice(0, 20)}")`,
        };
    }
    segments.push(segment);
  }
  const path = removeDotSegments(segments).join('/');
  return { ok: true, path: `${path === '' ? '/' : path}${query}` };
}
