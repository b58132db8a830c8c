import { Secret } from './secret.js';
import { SecretSourceError, type ReferenceCheck, type SecretSource } from './secret-source.js';

const PREFIX = 'env://';
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `env://NAME`: a secret held in an environment variable of the keygate process. Meant for
 * headless use (`keygate serve` in CI and containers), where the variable is injected by the
 * runner. Reasons never echo the name back: a user who pastes a raw key after `env://` should not
 * see it repeated in a log line.
 */
export class EnvSecretSource implements SecretSource {
  readonly scheme = 'env';
  readonly #env: NodeJS.ProcessEnv | undefined;

  /** @param env the environment to read; defaults to `process.env`, looked up at resolve time. */
  constructor(env?: NodeJS.ProcessEnv) {
    this.#env = env;
  }

  validate(ref: string): ReferenceCheck {
    if (!ref.startsWith(PREFIX)) {
      return { ok: false, reason: 'an environment reference starts with env://, as in env://NAME' };
    }
    const name = ref.slice(PREFIX.length);
    if (name === '') {
      return {
        ok: false,
        reason: 'env:// needs a variable name after it, as in env://OPENAI_API_KEY',
      };
    }
    if (!NAME.test(name)) {
      return {
        ok: false,
        reason:
          'the variable name after env:// may hold only letters, digits and underscores, and must not start with a digit',
      };
    }
    return { ok: true };
  }

  resolve(ref: string, signal: AbortSignal): Promise<Secret> {
    const check = this.validate(ref);
    if (!check.ok) {
      return Promise.reject(
        new SecretSourceError(check.reason ?? 'invalid reference', 'not-found'),
      );
    }
    if (signal.aborted) {
      return Promise.reject(
        new SecretSourceError('the lookup was cancelled', 'transient', undefined, {
          cause: signal.reason,
        }),
      );
    }
    const name = ref.slice(PREFIX.length);
    const value = (this.#env ?? process.env)[name];
    if (value === undefined || value === '') {
      return Promise.reject(
        new SecretSourceError(
          `environment variable ${name} is not set in the keygate process`,
          'not-found',
        ),
      );
    }
    return Promise.resolve(new Secret(value));
  }

  explain(): string {
    return 'env: reads env://NAME from the environment of the keygate process';
  }
}
