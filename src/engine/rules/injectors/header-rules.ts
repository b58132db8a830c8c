/**
 * Rules every injector shares: which header names may be written, which values are safe to
 * write, and how to replace a header the agent already sent.
 */
import { InvalidInputError, SecretUnavailableError } from '../../errors.js';
import type { InjectionTarget } from './types.js';

/** RFC 9110 §5.6.2: token = 1*tchar. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Headers a credential must never be written to: they frame the message or steer the connection
 * (RFC 9110 §7.6.1 hop-by-hop fields; RFC 9112 §6 framing), so writing them would let a
 * mapping corrupt or smuggle requests. `proxy-*` belongs to the agent↔proxy hop.
 */
const FORBIDDEN_NAMES = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
]);

/** Validates a configured header name; returns it lower-cased. */
export function checkHeaderName(name: string): string {
  if (!TOKEN.test(name)) {
    throw new InvalidInputError(
      `header name "${name}" is not a valid HTTP field name (RFC 9110 §5.6.2: letters, digits and !#$%&'*+-.^_\`|~)`,
    );
  }
  const lower = name.toLowerCase();
  if (FORBIDDEN_NAMES.has(lower) || lower.startsWith('proxy-')) {
    throw new InvalidInputError(
      `header "${name}" controls the connection or message framing and cannot carry a secret`,
    );
  }
  return lower;
}

/**
 * RFC 9110 §5.5: a field value is visible ASCII, space, tab and obs-text; CR, LF and NUL are
 * how header injection works (a secret ending in "\r\nX-Evil: 1" would add a header).
 */
const UNSAFE_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** For configured text (formats): refused at load time. */
export function checkConfiguredValue(what: string, value: string): void {
  if (UNSAFE_VALUE.test(value)) {
    throw new InvalidInputError(
      `${what} contains a line break, NUL or other character not allowed in an HTTP header`,
    );
  }
}

/**
 * Control characters (C0 except tab, and DEL): refused in every secret. RFC 7617 §2 forbids them
 * in Basic credentials, and in a query they mean the secret is broken.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * For secret values at injection time. `raw` values go into a header as they are and must be a
 * valid field value; `encoded` ones (base64, percent-encoding) only need to be free of control
 * characters. The message describes the problem and never the value; a trailing newline from a
 * file or `echo` is the usual cause.
 */
export function checkSecretValue(what: string, value: string, use: 'raw' | 'encoded'): void {
  if (value.length === 0) {
    throw new SecretUnavailableError(`this mapping can't be used: the ${what} is empty`);
  }
  if (CONTROL.test(value)) {
    throw new SecretUnavailableError(
      `this mapping can't be used: the ${what} contains CR, LF, NUL or another control character (a trailing newline?)`,
    );
  }
  if (use === 'raw' && UNSAFE_VALUE.test(value)) {
    throw new SecretUnavailableError(
      `this mapping can't be used: the ${what} contains characters not allowed in an HTTP header (RFC 9110 §5.5)`,
    );
  }
}

/**
 * Sets a header, first removing any copy under another spelling, so an agent's placeholder
 * (`Authorization: Bearer placeholder`) can never survive next to the real value.
 */
export function replaceHeader(target: InjectionTarget, name: string, value: string): void {
  removeHeader(target, name);
  target.headers[name] = value;
}

/** Removes a header under every spelling; `name` is lower-case. */
export function removeHeader(target: InjectionTarget, name: string): void {
  const headers = target.headers;
  delete headers[name];
  for (const key in headers) {
    if (key.length === name.length && key.toLowerCase() === name) delete headers[key];
  }
}
