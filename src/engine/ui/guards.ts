/**
 * The checks every request to the settings UI passes, each against one browser attack:
 *  - Host must name this server by its loopback address: a DNS-rebinding page reaches us under its
 *    own host name, which the browser then sends.
 *  - Origin, when sent, must be this server's: another site's page (or a sandboxed `null` one)
 *    is refused before anything runs. No CORS headers are ever sent, so it cannot read answers.
 *  - The API needs the per-launch token as a Bearer header, which a page only learns from the URL
 *    fragment the user opened; forms and <img> cannot set that header.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** 256 bits, base64url: safe in a URL fragment and an Authorization header. */
export function newUiToken(): string {
  return randomBytes(32).toString('base64url');
}

export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
}

export function allowedOrigins(port: number): Set<string> {
  return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
}

export function hostAllowed(headers: IncomingHttpHeaders, port: number): boolean {
  const host = headers.host;
  return typeof host === 'string' && allowedHosts(port).has(host.toLowerCase());
}

export function originAllowed(headers: IncomingHttpHeaders, port: number): boolean {
  const origin = headers.origin;
  if (origin === undefined) return true;
  return allowedOrigins(port).has(origin.toLowerCase());
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time in the token's content; hashing first makes the lengths equal too. */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer ([A-Za-z0-9_-]{1,512})$/.exec(authorization ?? '');
  const presented = match?.[1] ?? '';
  const equal = timingSafeEqual(digest(presented), digest(token));
  return match !== null && equal;
}
