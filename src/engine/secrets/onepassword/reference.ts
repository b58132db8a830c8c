import type { ReferenceCheck } from '../secret-source.js';
import { withoutRefBody } from '../reference-display.js';
import { loadSdkSync } from './sdk-loader.js';

/**
 * `op://` reference syntax, as the 1Password SDK defines it:
 * `op://<vault>/<item>/[<section>/]<field>[?attribute=<otp|totp>|?ssh-format=openssh]`.
 * Each of vault, item, section and field is a name or an ID. The SDK accepts only ASCII letters,
 * digits, space, `_`, `.` and `-` in them; there is no quoting or escaping, so a title with any
 * other character must be written as its ID.
 */
export const OP_PREFIX = 'op://';

/** The SDK's words when the prefix is missing; reproduced so such refs skip loading the SDK. */
const NO_PREFIX_REASON = 'secret reference is not prefixed with "op://"';
const SDK_PARSE_PREFIX = 'the secret reference could not be parsed: ';
const MAX_REASON = 300;

/**
 * Offline syntax check by the SDK itself (`Secrets.validateSecretReference`), so Keygate accepts
 * exactly what the SDK will resolve.
 *
 * Why synchronous loading: `SecretSource.validate` is synchronous and ESM `import()` is not. The
 * SDK package is CommonJS, so `createRequire` loads it synchronously on the first validation of
 * an op:// reference (~200 ms once, the same cost `import()` pays; later calls take well under a
 * millisecond). A hand-written pre-check would drift from the SDK's grammar (it accepts spaces
 * and empty segments, refuses quotes and non-ASCII letters). The one rule checked locally is the
 * `op://` prefix, whose verdict is the SDK's own wording, so nothing else ever loads the SDK.
 *
 * The SDK throws a JSON *string* (`{"name":"ParsingSecretReference","message":"…"}`), not an
 * Error; it is parsed into a plain reason. This never throws.
 */
export function validateOpReference(ref: string): ReferenceCheck {
  if (typeof ref !== 'string' || !ref.startsWith(OP_PREFIX)) {
    return { ok: false, reason: NO_PREFIX_REASON };
  }
  let validate: (ref: string) => void;
  try {
    const { Secrets } = loadSdkSync();
    validate = (r) => Secrets.validateSecretReference(r);
  } catch (err) {
    return {
      ok: false,
      reason: `the 1Password SDK could not be loaded to check it: ${shorten(rawText(err))}`,
    };
  }
  try {
    validate(ref);
    return { ok: true };
  } catch (err) {
    // The SDK's words today never quote the reference; should they start to, it may be a key.
    return { ok: false, reason: withoutRefBody(parsingReason(err), ref) };
  }
}

/** The SDK's parse error, as one plain sentence. Non-JSON text is kept as it is. */
export function parsingReason(thrown: unknown): string {
  let message = rawText(thrown);
  try {
    const parsed: unknown = JSON.parse(message);
    if (isRecord(parsed) && typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: keep the raw text
  }
  if (message.startsWith(SDK_PARSE_PREFIX)) message = message.slice(SDK_PARSE_PREFIX.length);
  // SDK 0.5.0 leaves a stray brace: "invalid query parameter value}".
  if (message.endsWith('}') && !message.includes('{')) message = message.slice(0, -1);
  message = message.trim();
  if (message === '') return 'the 1Password SDK refused it without a reason';
  if (message.startsWith('invalid character')) {
    message += '; write a name with other characters as its ID';
  }
  return shorten(message);
}

export interface OpReferenceParts {
  vault: string;
  item: string;
  section?: string;
  field: string;
}

/**
 * The names in a reference, for error messages. Loose on purpose (no SDK): it only splits on
 * `/` and drops the query; undefined when the shape is not vault/item/[section/]field.
 */
export function opReferenceParts(ref: string): OpReferenceParts | undefined {
  if (!ref.startsWith(OP_PREFIX)) return undefined;
  const path = ref.slice(OP_PREFIX.length).split('?')[0] ?? '';
  const parts = path.split('/');
  const [vault, item] = parts;
  if (vault === undefined || item === undefined) return undefined;
  if (parts.length === 3) return { vault, item, field: parts[2] ?? '' };
  if (parts.length === 4) return { vault, item, section: parts[2] ?? '', field: parts[3] ?? '' };
  return undefined;
}

function rawText(thrown: unknown): string {
  if (typeof thrown === 'string') return thrown;
  if (thrown instanceof Error) return thrown.message || thrown.name;
  if (isRecord(thrown) && typeof thrown.message === 'string') return thrown.message;
  return `threw ${thrown === null ? 'null' : typeof thrown}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function shorten(text: string): string {
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text;
}
