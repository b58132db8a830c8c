/**
 * A key pasted where a reference was expected (issue 9 §5): `env://sk-live-…`, `op://sk-…`. The
 * CLI refuses it naming the field and the scheme, and never prints what follows the scheme, in
 * `map add`, in `doctor` (a hand-edited settings file), or anywhere else it says why.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keygate, tempHome } from '../helpers/keygate-process.js';

const CANARY = 'sk-live-CANARY-7c1d4f9a2b';
let scratch: ReturnType<typeof tempHome> | undefined;
afterEach(() => scratch?.cleanup());

function home(): string {
  scratch = tempHome();
  return scratch.home;
}

describe('a key pasted after a scheme', () => {
  it.each([
    ['env://', ['map', 'add', 'api.openai.com', `env://${CANARY}`], /^keygate: ref env:\/\/…: /m],
    [
      'op://',
      ['map', 'add', 'api.openai.com', `op://${CANARY.replaceAll('-', '_')}`],
      /^keygate: ref op:\/\/…: /m,
    ],
    [
      'op:// with a key in the field',
      ['map', 'add', 'api.openai.com', `op://Private/OpenAI/${CANARY}+x`],
      /^keygate: ref op:\/\/…: /m,
    ],
    [
      'env:// as the basic user',
      ['map', 'add', 'api.openai.com', 'env://PASSWORD', '--basic', `env://${CANARY}`],
      /^keygate: basic user ref env:\/\/…: /m,
    ],
  ])('%s: `map add` names the field and scheme only', (_name, args, stderr) => {
    const result = keygate(args, { home: home() });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(stderr);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/CANARY|7c1d4f9a2b/);
  });

  it('`doctor` on a hand-edited settings file shows the scheme only', () => {
    const dir = home();
    expect(
      keygate(['map', 'add', 'api.openai.com', 'env://OPENAI_API_KEY'], { home: dir }).status,
    ).toBe(0);
    const file = join(dir, 'settings.json');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('env://OPENAI_API_KEY', `env://${CANARY}`),
    );

    const result = keygate(['doctor'], { home: dir });

    expect(`${result.stdout}${result.stderr}`).toMatch(/env:\/\/…: /);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/CANARY|7c1d4f9a2b/);
  });
});
