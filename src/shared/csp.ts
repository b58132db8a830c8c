/**
 * The settings UI's Content-Security-Policy, built here only (docs/security.md, "Settings UI"):
 * its own scripts and styles only, no inline code, no eval, no plugins, nothing framed.
 *  - The app's window gets `rendererCsp()` as a response header (settings-window.ts), and
 *    `serve --ui` sends `rendererCsp({ transport: 'http' })` on every answer (ui-server.ts).
 *  - file: pages get no headers in Chromium: what applies there is the page's own <meta>, which
 *    must be `META_CSP` exactly (test/shared/csp.test.ts reads src/renderer/index.html). One
 *    page serves both hosts, so the meta allows `connect-src 'self'` (the HTTP UI needs it); in
 *    the app the session cancels every request but the renderer's own files anyway.
 * Pure, no imports: the renderer, the engine and the shell all read it.
 */

export interface CspOptions {
  /**
   * `serve --ui` talks to the contract over HTTP on its own origin, so it needs
   * `connect-src 'self'`; the app's renderer has no network at all.
   */
  readonly transport?: 'ipc' | 'http';
  /** A <meta> tag ignores frame-ancestors (and warns about it), so it is left out there. */
  readonly meta?: boolean;
}

export function rendererCsp(options: CspOptions = {}): string {
  const directives: Array<[string, string]> = [
    ['default-src', "'none'"],
    ['script-src', "'self'"],
    ['style-src', "'self'"],
    ['img-src', "'self' data:"],
    ['font-src', "'self'"],
    ['connect-src', options.transport === 'http' ? "'self'" : "'none'"],
    ['object-src', "'none'"],
    ['base-uri', "'none'"],
    ['form-action', "'none'"],
  ];
  if (!options.meta) directives.push(['frame-ancestors', "'none'"]);
  return directives.map(([name, value]) => `${name} ${value}`).join('; ');
}

/** The policy the app's settings window is served with. */
export const RENDERER_CSP = rendererCsp();
/** The policy `serve --ui` sends. */
export const HTTP_UI_CSP = rendererCsp({ transport: 'http' });
/** The policy in src/renderer/index.html's <meta> tag. */
export const META_CSP = rendererCsp({ transport: 'http', meta: true });
