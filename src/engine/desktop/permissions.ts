/**
 * What the settings page may ask Chromium for. It copies agent setup and tokens to the clipboard
 * (navigator.clipboard.writeText needs 'clipboard-sanitized-write'); nothing else: no camera,
 * notifications, geolocation, reading the clipboard, and so on. Pure; settings-window.ts installs
 * it as the session's permission handlers.
 */

const ALLOWED = new Set(['clipboard-sanitized-write']);

export function isPermissionAllowed(permission: string): boolean {
  return ALLOWED.has(permission);
}
