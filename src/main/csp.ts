/**
 * The settings UI's Content-Security-Policy: its own scripts and styles only, no inline code, no
 * eval, no network from the page (the contract goes through the preload), nothing framed.
 * settings-window.ts sends it as a response header on every file the window loads; the page
 * should carry the same policy in a <meta> tag as well (`rendererCsp({ meta: true })`). Pure.
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
