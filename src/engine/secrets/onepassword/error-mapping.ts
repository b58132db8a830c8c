import type { OnePasswordProblem } from '../../../shared/api.js';
import { SecretSourceError, type SecretFailureKind } from '../secret-source.js';
import { opReferenceParts, parsingReason } from './reference.js';
import { loadedSdk } from './sdk-loader.js';
import { defineError } from '../../errors.js';

/**
 * After a rate-limit error, how long the resolver keeps 1Password paused. Service-account reads
 * are limited per HOUR (1,000 on Teams and individual plans, 10,000 on Business), so the limit
 * may well outlast this pause; the next call after it simply fails and pauses again.
 */
export const RATE_LIMIT_RETRY_MS = 60_000;

export type OpErrorCategory =
  /** RateLimitExceededError: the hourly read budget is spent. */
  | 'rate-limit'
  /** AuthExpiredError: the client's session expired; make a new client and retry once. */
  | 'auth-expired'
  /** DesktopSessionExpiredError: the desktop app is locked (or the approval lapsed). */
  | 'desktop-locked'
  /** The token is malformed (refused locally by the SDK, before any request). */
  | 'invalid-token'
  /** 1Password refused the token (revoked, deleted service account). */
  | 'token-rejected'
  /** The reference does not resolve (item deleted, field renamed, no access to the vault). */
  | 'not-found'
  /** Could not reach 1Password, or it did not answer. */
  | 'network'
  /** 1Password answered with a server error (HTTP 5xx at sign-in). */
  | 'server-error'
  /** Desktop mode: the 1Password app (or its SDK integration) is not there. */
  | 'desktop-missing'
  | 'other';

/**
 * What the user should know about an account, for status and alerts (src/shared/alerts.ts).
 * Carried on the error as data, so nobody has to guess it from the message's words.
 */
export type OpProblem = OnePasswordProblem;

/** The problem each category means for the account. */
const PROBLEM_OF: Readonly<Record<OpErrorCategory, OpProblem | undefined>> = {
  'rate-limit': 'rate-limit',
  'auth-expired': 'sign-in',
  'desktop-locked': 'locked',
  'invalid-token': 'sign-in',
  'token-rejected': 'sign-in',
  'not-found': undefined,
  network: 'unreachable',
  'server-error': 'unavailable',
  'desktop-missing': 'app-missing',
  other: 'unavailable',
};

/** A 1Password failure, with what it means for the account (absent: about one reference only). */
export class OpSourceError extends defineError(
  'OpSourceError',
  { status: 500, code: 'op_source' },
  SecretSourceError,
) {
  constructor(
    message: string,
    kind: SecretFailureKind,
    readonly problem: OpProblem | undefined,
    retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, kind, retryAfterMs, options);
  }
}

/** The account-level problem an error stands for, if it is one. */
export function problemOf(error: unknown): OpProblem | undefined {
  if (error instanceof OpSourceError) return error.problem;
  if (error instanceof OpAuthExpiredError) return 'sign-in';
  return undefined;
}

export interface ClassifiedOpError {
  category: OpErrorCategory;
  /** The SDK's own message (token-scrubbed), for the detail after a plain sentence. */
  detail: string;
}

/** The client's session expired: the source recreates its client once and retries. */
export class OpAuthExpiredError extends defineError(
  'OpAuthExpiredError',
  { status: 500, code: 'op_auth_expired' },
  SecretSourceError,
) {
  constructor(options?: ErrorOptions) {
    super('the 1Password session expired', 'transient', undefined, options);
  }
}

/** The 1Password app is locked: the user must unlock it. */
export const DESKTOP_LOCKED_MESSAGE = '1Password is locked: unlock the 1Password app';

/** Desktop mode, and the SDK found no 1Password app library to load. */
export const DESKTOP_MISSING_MESSAGE =
  '1Password app not found, or its SDK integration is off: install the 1Password app and turn on ' +
  'Settings → Developer → "Integrate with other apps"';

/** Words Keygate puts first whenever 1Password could not be reached. */
export const UNREACHABLE_MESSAGE = '1Password could not be reached';

const NAME_CATEGORY: Readonly<Record<string, OpErrorCategory>> = {
  RateLimitExceeded: 'rate-limit',
  AuthExpired: 'auth-expired',
  DesktopSessionExpired: 'desktop-locked',
  ServiceAccountTokenParsing: 'invalid-token',
  ParsingSecretReference: 'not-found',
};

/**
 * Messages the SDK core (0.5.0) produces, found in its WASM and recorded against a local sign-in
 * server by test/engine/secrets/onepassword/sdk-contract.test.ts (the recordings are in
 * test/fixtures/onepassword-sdk-errors.json; docs/onepassword.md has the table). `throwError` keeps the class only
 * for the three typed errors; everything else arrives as a bare `Error(message)`, so these are
 * matched by text. Order matters: the first match wins.
 */
const MESSAGE_CATEGORY: ReadonlyArray<readonly [RegExp, OpErrorCategory]> = [
  [/rate limit exceeded/i, 'rate-limit'],
  [/desktop ?session ?expired|1password (app )?is locked/i, 'desktop-locked'],
  [/auth(entication)? ?expired|session (has )?expired/i, 'auth-expired'],
  [
    /service account token had invalid format|invalid service account token|prefix 'ops_' was expected|token base64 decoding failed|createClient requires either `auth`/i,
    'invalid-token',
  ],
  // The SDK's HTTP client (reqwest) failed before any answer: refused, reset, DNS, TLS trust.
  // Its words ("request library compatibility issue") wrongly suggest a version problem.
  [/reqwest library: error sending request|error sending request/i, 'network'],
  [/native library is not available|desktop application not found/i, 'desktop-missing'],
  [/authentication error: internal server error|internal server error/i, 'server-error'],
  [/bad service account token|you are not authenticated|failed to authenticate/i, 'token-rejected'],
  // 403 at sign-in: the service account may not sign in (deleted, suspended). The same words on a
  // read (below, 'not-found') mean the vault is not shared with it.
  [/authentication error: you don't have the right permissions/i, 'token-rejected'],
  [
    /no vault matched|more than one vault matched|no item matched|more than one item matched|item is not in an active state|no section matched|field cannot be found|more than one field matched|TOTP attribute can only|TOTP code could not be generated|SSH key formatting|unable to retrieve SSH Key|currently only text files|secret reference could not be parsed|resource not found|you don't have the right permissions/i,
    'not-found',
  ],
  [
    /request timeout|timed out|fetch failed|network|connect|socket|ECONN|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|certificate|TLS|dns/i,
    'network',
  ],
];

const MAX_DETAIL = 300;
const RESOLVING_PREFIX = /^error resolving secret reference:\s*/i;
const PARSING_PREFIX = /^the secret reference could not be parsed:\s*/i;
/** Anything shaped like a service-account token, in case an SDK message ever echoes one. */
const TOKEN_SHAPE = /ops_[A-Za-z0-9+/=_-]{8,}/g;

/**
 * Sort anything the SDK threw (an Error subclass, a bare Error, a JSON string, a plain object)
 * into a category. Class checks use the SDK only if it is already loaded: mapping an error never
 * loads it. `scrub` lists strings (the token) that must never appear in the detail.
 */
export function classifySdkError(
  thrown: unknown,
  scrub: readonly string[] = [],
): ClassifiedOpError {
  const { names, message } = describeThrown(thrown);
  const detail = clean(message, scrub);

  const sdk = loadedSdk();
  if (sdk !== undefined) {
    if (thrown instanceof sdk.RateLimitExceededError) return { category: 'rate-limit', detail };
    if (thrown instanceof sdk.AuthExpiredError) return { category: 'auth-expired', detail };
    if (thrown instanceof sdk.DesktopSessionExpiredError) {
      return { category: 'desktop-locked', detail };
    }
  }
  for (const name of names) {
    const category = NAME_CATEGORY[name.replace(/Error$/, '')];
    if (category !== undefined) return { category, detail };
  }
  for (const [pattern, category] of MESSAGE_CATEGORY) {
    if (pattern.test(message)) return { category, detail };
  }
  return { category: 'other', detail };
}

/**
 * A thrown SDK error as the SecretSourceError the resolver understands. 'auth-expired' becomes
 * an OpAuthExpiredError, the signal to recreate the client.
 */
export function mapSdkError(thrown: unknown, scrub: readonly string[] = []): SecretSourceError {
  if (thrown instanceof SecretSourceError) return thrown;
  const { category, detail } = classifySdkError(thrown, scrub);
  const options = { cause: redactedCause(thrown, detail, scrub) };
  const fail = (message: string, retryAfterMs?: number): OpSourceError =>
    new OpSourceError(message, 'transient', PROBLEM_OF[category], retryAfterMs, options);
  switch (category) {
    case 'rate-limit':
      return fail(
        '1Password rate limit reached (service accounts may read a limited number of secrets ' +
          'per hour: 1,000 on Teams and individual plans, 10,000 on Business); ' +
          `1Password lookups pause for ${RATE_LIMIT_RETRY_MS / 1000} s`,
        RATE_LIMIT_RETRY_MS,
      );
    case 'auth-expired':
      return new OpAuthExpiredError(options);
    case 'desktop-locked':
      return fail(DESKTOP_LOCKED_MESSAGE);
    case 'desktop-missing':
      return fail(DESKTOP_MISSING_MESSAGE);
    case 'invalid-token':
      return fail(
        `the 1Password service account token is malformed (${detail}); ` +
          'run `keygate token set` with the token exactly as 1Password shows it',
      );
    case 'token-rejected':
      return fail(
        `1Password refused the service account token (${detail}); it may have been revoked: ` +
          'create a new one and run `keygate token set`',
      );
    case 'not-found':
      return new OpSourceError(
        /right permissions/i.test(detail)
          ? 'the 1Password account has no access to it (vault access revoked?)'
          : detail
              .replace(RESOLVING_PREFIX, '')
              .replace(PARSING_PREFIX, 'not a valid op:// reference: '),
        'not-found',
        undefined,
        undefined,
        options,
      );
    case 'network':
      return fail(`${UNREACHABLE_MESSAGE}: ${networkDetail(detail)}; check the network connection`);
    case 'server-error':
      return fail(`1Password had a server error (${detail}); Keygate tries again later`);
    case 'other':
      return fail(`1Password failed: ${detail}`);
  }
}

/**
 * The SDK's words for "no answer" say "request library compatibility issue … reqwest library:
 * error sending request", which reads as a version problem. Keep only the part that is true.
 */
export function networkDetail(detail: string): string {
  return /error sending request/i.test(detail)
    ? 'the connection failed (refused, reset, no DNS answer or an untrusted certificate)'
    : detail;
}

/**
 * One reference's error from `resolveAll`, as a plain reason that names the vault, item or field
 * the reference asked for (names the user wrote, never a value).
 */
export function mapResolveError(
  error: { type: string; message?: string },
  ref: string,
): SecretSourceError {
  const parts = opReferenceParts(ref);
  const vault = parts ? `"${parts.vault}"` : 'the vault';
  const item = parts ? `"${parts.item}"` : 'the item';
  const field = parts ? `"${parts.field}"` : 'the field';
  const notFound = (reason: string): SecretSourceError =>
    new SecretSourceError(reason, 'not-found');
  switch (error.type) {
    case 'vaultNotFound':
      return notFound(`vault ${vault} not found, or the 1Password account has no access to it`);
    case 'itemNotFound':
      return notFound(`item ${item} not found in vault ${vault} (deleted, renamed or archived?)`);
    case 'fieldNotFound':
      return notFound(`field ${field} not found in item ${item} of vault ${vault}`);
    case 'noMatchingSections':
      return notFound(
        parts?.section !== undefined
          ? `section "${parts.section}" not found in item ${item} of vault ${vault}`
          : `no matching section in item ${item} of vault ${vault}`,
      );
    case 'tooManyVaults':
      return notFound(`more than one vault is called ${vault}; use the vault's ID instead`);
    case 'tooManyItems':
      return notFound(
        `more than one item in vault ${vault} is called ${item}; use the item's ID instead`,
      );
    case 'tooManyMatchingFields':
      return notFound(
        `more than one field in item ${item} is called ${field}; name its section or use the field's ID`,
      );
    case 'parsing':
      return notFound(`not a valid op:// reference: ${parsingReason(error.message ?? '')}`);
    case 'incompatibleTOTPQueryParameterField':
      return notFound(`?attribute=otp needs a one-time-password field, and ${field} is not one`);
    case 'unableToGenerateTotpCode':
      return notFound(`the one-time password of field ${field} could not be generated`);
    case 'sSHKeyMetadataNotFound':
    case 'unableToParsePrivateKey':
      return notFound(`field ${field} is not a readable SSH private key`);
    case 'incompatibleSshKeyQueryParameterField':
      return notFound(
        `?ssh-format applies only to SSH private key fields, and ${field} is not one`,
      );
    case 'unableToFormatPrivateKeyToOpenSsh':
      return notFound(`the SSH key in field ${field} could not be converted to OpenSSH format`);
    case 'unsupportedFileFormat':
      return notFound(`field ${field} is a file that is not text; only text files can be read`);
    default:
      // 'other' and types newer than this code: unclear, so retryable. The SDK's message is
      // not echoed: it is unknown what it could contain.
      return new SecretSourceError(
        `1Password could not resolve it (${safeType(error.type)})`,
        'transient',
      );
  }
}

/** Remove every scrubbed string and anything token-shaped; shorten. */
export function scrubText(text: string, scrub: readonly string[]): string {
  let out = text;
  for (const secret of scrub) {
    if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out.replace(TOKEN_SHAPE, '[redacted]');
}

function clean(message: string, scrub: readonly string[]): string {
  const text = scrubText(message, scrub).replace(/\s+/g, ' ').trim() || 'no details';
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text;
}

/** The names and message of anything thrown, however the WASM boundary shaped it. */
function describeThrown(thrown: unknown): { names: string[]; message: string } {
  const names: string[] = [];
  let message = '';
  let value: unknown = thrown;
  if (typeof value === 'string') {
    message = value;
    try {
      value = JSON.parse(value);
    } catch {
      return { names, message };
    }
  }
  if (typeof value === 'object' && value !== null) {
    const record = value as { name?: unknown; message?: unknown; constructor?: unknown };
    // The SDK's error classes never set `name` (it stays "Error"): the constructor name is the tell.
    const ctor = record.constructor;
    if (typeof ctor === 'function' && ctor.name && ctor.name !== 'Object') names.push(ctor.name);
    if (typeof record.name === 'string') names.push(record.name);
    if (typeof record.message === 'string') message = record.message;
  } else if (value !== undefined && value !== null && message === '') {
    message = String(value as string | number | boolean);
  }
  return { names, message };
}

function safeType(type: string): string {
  return /^[A-Za-z0-9_-]{1,60}$/.test(type) ? type : 'unknown error';
}

/**
 * The cause kept on the mapped error: the original when it is an Error whose message is already
 * clean, else a plain Error with the scrubbed detail (so a token can't ride along in `cause`).
 */
function redactedCause(thrown: unknown, detail: string, scrub: readonly string[]): Error {
  if (thrown instanceof Error && scrubText(thrown.message, scrub) === thrown.message) return thrown;
  return new Error(detail);
}
