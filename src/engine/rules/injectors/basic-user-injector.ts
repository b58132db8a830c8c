/**
 * `Authorization: Basic base64(user:password)` (RFC 7617 §2) with a fixed, non-secret user-id
 * written in the mapping, and the mapping's ref as the password. GitHub's git endpoints take
 * exactly this with the user `x-access-token` and a token as the password (the `github-git`
 * preset); GitLab uses `oauth2`, Bitbucket `x-token-auth`. A user-id that is itself a secret
 * belongs in a reference instead (`--basic env://USER`: basic-injector.ts).
 */
import { InvalidInputError } from '../../errors.js';
import type { InjectionSecrets, InjectionTarget, Injector } from './types.js';
import { checkSecretValue, replaceHeader } from './header-rules.js';

const MAX_USER_LENGTH = 64;
/** Prefixes of well-known API keys and tokens: such a value is a secret, not a user-id. */
const SECRET_PREFIX = /^(sk-|sk_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|xox[abpr]-|AKIA)/;

/** Throws InvalidInputError when `user` cannot be a literal Basic user-id. */
export function checkLiteralUser(user: string): void {
  if (user.length === 0) throw new InvalidInputError('basic-auth user is empty');
  if (user.length > MAX_USER_LENGTH || SECRET_PREFIX.test(user)) {
    // Never echo it: it may be a pasted key.
    throw new InvalidInputError(
      'that basic-auth user looks like a secret, and a literal user is stored in settings.json in the clear: pass a reference instead (--basic env://VAR or op://…)',
    );
  }
  if (user.includes(':')) {
    throw new InvalidInputError(
      'a basic-auth user may not contain ":", which RFC 7617 §2 uses to separate it from the password',
    );
  }
  if (/[^\x21-\x7e]/.test(user)) {
    throw new InvalidInputError(
      'a literal basic-auth user may hold only visible ASCII characters (no spaces or control characters)',
    );
  }
}

export class BasicUserInjector implements Injector {
  constructor(readonly user: string) {
    checkLiteralUser(user);
  }

  apply(target: InjectionTarget, secrets: InjectionSecrets): void {
    const password = secrets.primary.reveal();
    checkSecretValue('password', password, 'encoded');
    // UTF-8, the only charset RFC 7617 §2.1 defines.
    const credentials = Buffer.from(`${this.user}:${password}`, 'utf8').toString('base64');
    replaceHeader(target, 'authorization', `Basic ${credentials}`);
  }

  explain(): string {
    return `sets Authorization: Basic base64(${this.user}:<secret>) (RFC 7617), replacing any Authorization the agent sent`;
  }
}
