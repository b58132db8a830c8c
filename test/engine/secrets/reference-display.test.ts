import { describe, expect, it } from 'vitest';
import { refForError, withoutRefBody } from '../../../src/engine/secrets/reference-display.js';

describe('refForError', () => {
  it.each([
    ['env://sk-live-123', 'env://…'],
    ['OP://sk-proj-abc/def', 'op://…'],
    ['x+y.z-w://anything', 'x+y.z-w://…'],
  ])('shows %s as %s: the scheme, nothing after it', (ref, shown) => {
    expect(refForError(ref)).toBe(shown);
  });

  it.each(['sk-live-123', 'op:/sk-live-123', '://sk-live-123', '1x://sk-live-123'])(
    'shows nothing of %s, which has no scheme',
    (ref) => {
      expect(refForError(ref)).not.toContain('sk-live');
      expect(refForError(ref)).toMatch(/not shown/);
    },
  );
});

describe('withoutRefBody', () => {
  it('takes the body and each key-sized part of it out of a message that quotes them', () => {
    const ref = 'op://sk-proj-ABCDEF/item/field?attribute=sk-ant-XYZ123';
    const text = withoutRefBody(
      'bad ref sk-proj-ABCDEF/item/field?attribute=sk-ant-XYZ123, vault "sk-proj-ABCDEF", attribute sk-ant-XYZ123',
      ref,
    );
    expect(text).not.toMatch(/ABCDEF|XYZ123/);
    expect(text).toBe('bad ref …, vault "…", attribute …');
  });

  it('leaves a message that quotes nothing alone', () => {
    expect(withoutRefBody('secret reference has invalid format', 'op://a/b')).toBe(
      'secret reference has invalid format',
    );
  });
});
