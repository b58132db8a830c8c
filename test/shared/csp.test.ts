import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HTTP_UI_CSP, META_CSP, RENDERER_CSP, rendererCsp } from '../../src/shared/csp.js';
import { UI_CSP } from '../../src/engine/ui/ui-server.js';
import { REPO_ROOT } from '../helpers/keygate-process.js';

describe('renderer CSP', () => {
  const directives = new Map(
    RENDERER_CSP.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name, values.join(' ')];
    }),
  );

  it('allows only its own scripts and styles: no inline, no eval', () => {
    expect(directives.get('default-src')).toBe("'none'");
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('style-src')).toBe("'self'");
    expect(RENDERER_CSP).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it('gives the app renderer no network, and serve --ui only its own origin', () => {
    expect(directives.get('connect-src')).toBe("'none'");
    expect(rendererCsp({ transport: 'http' })).toContain("connect-src 'self'");
  });

  it('cannot be framed, and the meta form leaves out frame-ancestors', () => {
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(directives.get('object-src')).toBe("'none'");
    expect(directives.get('base-uri')).toBe("'none'");
    expect(rendererCsp({ meta: true })).not.toContain('frame-ancestors');
  });
});

describe('one policy everywhere', () => {
  it('is the <meta> policy of the page, which is what file: pages get (no headers there)', () => {
    const html = readFileSync(join(REPO_ROOT, 'src', 'renderer', 'index.html'), 'utf8');
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]*)"/.exec(html);
    expect(meta?.[1]).toBe(META_CSP);
    expect(META_CSP).toContain("default-src 'none'");
    expect(META_CSP).toContain("object-src 'none'");
  });

  it('is what serve --ui sends', () => {
    expect(UI_CSP).toBe(HTTP_UI_CSP);
  });
});
