/** The Agents table's limit fields (src/renderer/sections/agent-limits.ts): what a typed limit means. */
import { describe, expect, it } from 'vitest';
import { parseLimit } from '../../src/renderer/format.js';

describe('parseLimit', () => {
  it.each([
    ['', null],
    ['   ', null],
    ['1', 1],
    ['120', 120],
    ['1,000', 1000],
    ['2_000_000', 2_000_000],
    [' 50 ', 50],
  ])('%j → %j', (text, expected) => {
    expect(parseLimit(text)).toBe(expected);
  });

  it.each(['0', '-3', '1.5', '1e3', 'lots', '12abc', '9007199254740993'])(
    '%j is refused with a reason',
    (text) => {
      const out = parseLimit(text);
      expect(out).toMatchObject({ error: expect.stringMatching(/^a limit is /) });
    },
  );
});
