/**
 * A query parameter (`?key=<secret>`), for APIs that take the key in the URL. The parameter is
 * set with URLSearchParams `set` semantics: the first occurrence is replaced in place, later
 * ones are removed, and it is appended when absent. Every other parameter keeps its exact bytes
 * and order, since re-encoding them could break signed URLs.
 */
import { InvalidInputError } from '../../errors.js';
import type { InjectionSecrets, InjectionTarget, Injector } from './types.js';
import { checkSecretValue } from './header-rules.js';

export class QueryInjector implements Injector {
  /** `param=` form-encoded once (application/x-www-form-urlencoded, as URLSearchParams does). */
  readonly #encodedName: string;

  constructor(readonly param: string) {
    if (param.length === 0) throw new InvalidInputError('query parameter name is empty');
    this.#encodedName = new URLSearchParams([[param, '']]).toString();
  }

  apply(target: InjectionTarget, secrets: InjectionSecrets): void {
    const secret = secrets.primary.reveal();
    // Percent-encoding would make CR/LF harmless here, but a secret holding them is broken
    // (usually a trailing newline) and every injector refuses it the same way.
    checkSecretValue('secret', secret, 'encoded');
    const pair = this.#encodedName + encodeFormValue(secret);

    const path = target.path;
    const mark = path.indexOf('?');
    if (mark === -1) {
      target.path = `${path}?${pair}`;
      return;
    }
    const query = path.slice(mark + 1);
    if (query.length === 0) {
      target.path = `${path}${pair}`;
      return;
    }

    const out: string[] = [];
    let replaced = false;
    for (const piece of query.split('&')) {
      if (piece.length > 0 && this.#isParam(piece)) {
        if (!replaced) out.push(pair);
        replaced = true;
      } else {
        out.push(piece);
      }
    }
    if (!replaced) out.push(pair);
    target.path = `${path.slice(0, mark)}?${out.join('&')}`;
  }

  /** Compares decoded names, so `api%5Fkey=` and `api_key=` are the same parameter. */
  #isParam(piece: string): boolean {
    for (const [name] of new URLSearchParams(piece)) return name === this.param;
    return false;
  }

  explain(): string {
    return `sets query parameter ${this.param}=<secret>, replacing any value the agent sent`;
  }
}

function encodeFormValue(value: string): string {
  // URLSearchParams serialises `a=<value>`; drop the `a=` to get the encoded value alone.
  return new URLSearchParams([['a', value]]).toString().slice(2);
}
