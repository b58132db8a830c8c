/**
 * The settings UI's files, looked up from a request path without ever leaving the directories
 * they are mounted from: `..` and `.` segments (encoded or not), backslashes and NUL are refused
 * outright rather than normalised, and the resolved file must still sit inside its directory
 * after symlinks are followed. Only known file types are served.
 */
import { realpath, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export interface StaticMount {
  /** URL prefix, starting and ending with `/`. */
  readonly prefix: string;
  readonly dir: string;
  /** File extensions served from this mount (default: every CONTENT_TYPES key). */
  readonly extensions?: readonly string[];
}

export interface StaticFile {
  readonly path: string;
  readonly contentType: string;
}

/** The path's segments, decoded, or undefined when the path is not a plain file path. */
export function safeSegments(rawPath: string): string[] | undefined {
  if (!rawPath.startsWith('/')) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (/[\\\0]/.test(decoded)) return undefined;
  const segments = decoded.slice(1).split('/');
  if (segments.some((s) => s === '..' || s === '.')) return undefined;
  // Empty segments (`//`) only as the trailing one (a directory URL).
  if (segments.slice(0, -1).some((s) => s === '')) return undefined;
  return segments;
}

/** Finds the file a GET for `rawPath` (no query) names, or undefined (→ 404). */
export async function findStaticFile(
  mounts: readonly StaticMount[],
  rawPath: string,
): Promise<StaticFile | undefined> {
  const path = rawPath === '/' ? '/index.html' : rawPath;
  const mount = mounts.find((m) => path.startsWith(m.prefix));
  if (!mount) return undefined;
  const segments = safeSegments('/' + path.slice(mount.prefix.length));
  if (!segments || segments.at(-1) === '') return undefined;
  const extension = extname(segments.at(-1) ?? '');
  const contentType = CONTENT_TYPES[extension];
  if (!contentType || !(mount.extensions ?? Object.keys(CONTENT_TYPES)).includes(extension))
    return undefined;
  try {
    const root = await realpath(mount.dir);
    const file = await realpath(resolve(root, ...segments));
    if (!file.startsWith(root + sep)) return undefined;
    if (!(await stat(file)).isFile()) return undefined;
    return { path: file, contentType };
  } catch {
    return undefined;
  }
}
