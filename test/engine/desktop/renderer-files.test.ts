import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isAllowedRequest, rendererFileFor } from '../../../src/engine/desktop/renderer-files.js';
import { REPO_ROOT } from '../../helpers/keygate-process.js';

const root = '/Applications/Keygate.app/Contents/Resources/app.asar/dist/renderer';
const url = (path: string) => pathToFileURL(path).href;

describe('rendererFileFor', () => {
  it('maps file URLs inside the renderer folder to their path', () => {
    expect(rendererFileFor(url(`${root}/index.html`), root)).toBe(`${root}/index.html`);
    expect(rendererFileFor(`${url(`${root}/sections/agents.js`)}?v=1#x`, root)).toBe(
      `${root}/sections/agents.js`,
    );
  });

  it.each([
    ['the parent folder', url(`${root}/../main/main.js`)],
    ['an encoded climb', `${url(root)}/%2e%2e/main/main.js`],
    ['an encoded slash', `${url(root)}/sections%2Fagents.js`],
    ['a sibling with the same prefix', url(`${root}-evil/index.html`)],
    ['the folder itself', url(root)],
    ['/etc/passwd', 'file:///etc/passwd'],
    ['the Keygate home', 'file:///Users/ada/Library/Application%20Support/Keygate/settings.json'],
    ['a file URL with a host', url(`${root}/index.html`).replace('file://', 'file://evil')],
    ['https', 'https://example.com/index.html'],
    ['garbage', 'not a url'],
  ])('refuses %s', (_name, requestUrl) => {
    expect(rendererFileFor(requestUrl, root)).toBeUndefined();
  });
});

describe('isAllowedRequest', () => {
  it('lets through the renderer files and inline data: images only', () => {
    expect(isAllowedRequest(url(`${root}/styles.css`), root, true)).toBe(true);
    expect(isAllowedRequest('data:image/png;base64,AAAA', root, true)).toBe(true);
    for (const blocked of [
      'https://api.openai.com/v1/models',
      'http://127.0.0.1:8790/healthz',
      'ws://127.0.0.1:8790/',
      'file:///etc/hosts',
      'chrome://gpu',
    ]) {
      expect(isAllowedRequest(blocked, root, true)).toBe(false);
    }
  });

  it('allows devtools only in development', () => {
    const devtools = 'devtools://devtools/bundled/devtools_app.html';
    expect(isAllowedRequest(devtools, root, false)).toBe(true);
    expect(isAllowedRequest(devtools, root, true)).toBe(false);
  });
});

// The renderer is built by its own part of the project; when it is there, the page the app loads
// must carry a CSP that allows no inline or eval'd script (a <meta> is what applies to file:).
const page = join(REPO_ROOT, 'src', 'renderer', 'index.html');
describe.skipIf(!existsSync(page))('the settings page', () => {
  it('declares a strict CSP in a meta tag', () => {
    const html = readFileSync(page, 'utf8');
    const meta = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/i.exec(html);
    expect(meta).not.toBeNull();
    const policy = meta![1]!;
    expect(policy).toMatch(/script-src 'self'(;|$)/);
    expect(policy).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(policy).toMatch(/base-uri 'none'/);
  });
});
