import { describe, expect, it } from 'vitest';
import { InvalidInputError, KeygateError } from '../../../src/engine/errors.js';
import { createInjector } from '../../../src/engine/rules/injectors/index.js';
import { CompiledMapping } from '../../../src/engine/rules/compiled-mapping.js';
import { Secret } from '../../../src/engine/secrets/secret.js';
import { presetNamed } from '../../../src/shared/presets.js';
import { settingsSchema } from '../../../src/shared/settings-schema.js';

describe('basic-user (a literal Basic user-id)', () => {
  const injector = createInjector({ type: 'basic-user', user: 'x-access-token' });

  it('writes x-access-token:<token> over whatever Authorization git sent', () => {
    const t = { headers: { Authorization: 'Basic cGxhY2Vob2xkZXI6' }, path: '/o/r.git/info/refs' };
    injector.apply(t, { primary: new Secret('ghp_REAL') });
    expect(t.headers).toEqual({
      authorization: `Basic ${Buffer.from('x-access-token:ghp_REAL').toString('base64')}`,
    });
    expect(injector.explain()).toMatch(/Basic base64\(x-access-token:<secret>\)/);
  });

  it('refuses a password with a line break, without echoing it', () => {
    expect(() =>
      injector.apply({ headers: {}, path: '/' }, { primary: new Secret('sk-abc\r\nx-evil: 1') }),
    ).toThrow(KeygateError);
    try {
      injector.apply({ headers: {}, path: '/' }, { primary: new Secret('sk-abc\nx') });
    } catch (err) {
      expect((err as Error).message).not.toContain('sk-abc');
    }
  });

  it.each([
    ['empty', ''],
    ['a colon', 'a:b'],
    ['a space', 'a b'],
    ['a pasted key', 'github_pat_11ABCDEFG'],
    ['a long value', 'u'.repeat(65)],
  ])('refuses a user with %s, naming no value', (_why, user) => {
    expect(() => createInjector({ type: 'basic-user', user })).toThrow(InvalidInputError);
    if (user.length > 3)
      expect(() => createInjector({ type: 'basic-user', user })).not.toThrow(user);
  });
});

describe('the github-git preset', () => {
  it('maps github.com with Basic x-access-token, and loads from a settings file', () => {
    const preset = presetNamed('github-git');
    expect(preset).toMatchObject({
      host: 'github.com',
      injector: { type: 'basic-user', user: 'x-access-token' },
    });
    const settings = settingsSchema.parse({
      mappings: [
        { host: 'github.com', ref: 'env://GH', injector: preset?.injector, preset: 'github-git' },
      ],
    });
    const compiled = new CompiledMapping(settings.mappings[0]!);
    expect(compiled.config.injector.type).toBe('basic-user');
  });
});
