import { describe, expect, it } from 'vitest';
import {
  AppOnlyOperationError,
  defineError,
  errnoCode,
  HostDeniedError,
  InvalidInputError,
  InvalidRequestError,
  KeygateError,
  NamedError,
  SettingsError,
} from '../../src/engine/errors.js';
import { BudgetExceededError } from '../../src/engine/budgets/budget-exceeded-error.js';
import { SecretSourceError } from '../../src/engine/secrets/secret-source.js';
import { OpAbortError } from '../../src/engine/secrets/onepassword/abortable.js';
import { PortInUseError } from '../../src/engine/keygate-engine.js';

describe('defineError', () => {
  it('gives a class its name, code and status from one definition', () => {
    const NoSuchThing = defineError('NoSuchThingError', { status: 404, code: 'no_such_thing' });
    const error = new NoSuchThing('the thing is gone', { cause: 1 });
    expect(NoSuchThing.name).toBe('NoSuchThingError');
    expect(error).toBeInstanceOf(NamedError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'NoSuchThingError', code: 'no_such_thing', status: 404 });
    expect(error.message).toBe('the thing is gone');
    expect(error.cause).toBe(1);
    expect(error.errorId).toBe('keygate_no_such_thing');
  });

  it('keeps a kind of another one an instance of it, with its own name and code', () => {
    const error = new AppOnlyOperationError('only the app');
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({ name: 'AppOnlyOperationError', code: 'app_only', status: 400 });
    expect(new InvalidRequestError('x')).toMatchObject({
      name: 'InvalidRequestError',
      code: 'invalid_request',
      status: 400,
    });
    expect(new InvalidInputError('x')).toMatchObject({ code: 'invalid_input', status: 400 });
    expect(new SettingsError('x')).toMatchObject({ name: 'SettingsError', status: 500 });
  });

  it('passes a parent’s own constructor through (SecretSourceError’s kind, an abort’s cause)', () => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    const error = new OpAbortError('resolving op://v/i/f', controller.signal);
    expect(error).toBeInstanceOf(SecretSourceError);
    expect(error).toMatchObject({ name: 'AbortError', kind: 'transient', code: 'op_aborted' });
    expect(error.message).toBe('resolving op://v/i/f was cancelled: shutting down');
    expect(new PortInUseError('busy')).toMatchObject({ name: 'PortInUseError', status: 500 });
  });

  it('agent-facing errors keep their status, code and traits', () => {
    const denied = new HostDeniedError('unmapped');
    expect(denied).toBeInstanceOf(KeygateError);
    expect(denied).toMatchObject({ name: 'HostDeniedError', status: 403, code: 'host_denied' });
    expect(denied.summary('a.example')).toBe('Keygate: a.example is not mapped (deny-unmapped)');
    const budget = new BudgetExceededError({
      agent: 'ci',
      kind: 'requests',
      limit: 10,
      used: 10,
      retryAfterSeconds: 30,
    });
    expect(budget).toMatchObject({ name: 'BudgetExceededError', status: 429 });
    expect(budget.errorId).toBe('keygate_budget_exceeded');
    expect(budget.retryAfterSeconds).toBe(30);
  });
});

describe('errnoCode', () => {
  it('reads a system error’s code, never a named error’s own', () => {
    expect(errnoCode(Object.assign(new Error('gone'), { code: 'ENOENT' }))).toBe('ENOENT');
    expect(errnoCode(new InvalidInputError('bad host'))).toBeUndefined();
    expect(errnoCode('ENOENT')).toBeUndefined();
  });
});
