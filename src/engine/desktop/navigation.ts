/**
 * Where the settings window may go. Only the settings page itself (a reload, or a change of
 * fragment) stays in the window; an https: link opens in the user's browser; anything else
 * (file:, data:, javascript:, http:, custom schemes) is dropped. Pure; settings-window.ts applies
 * it to navigation and to window.open.
 */
import { isTrustedSender } from './ipc-table.js';

export type NavigationDecision = 'allow' | 'open-external' | 'deny';

export function navigationDecision(targetUrl: string, settingsUrl: string): NavigationDecision {
  if (isTrustedSender(targetUrl, settingsUrl)) return 'allow';
  let url: URL;
  try {
    url = new URL(targetUrl);
  } catch {
    return 'deny';
  }
  // The web over TLS only, and never with credentials in the URL.
  if (url.protocol === 'https:' && url.username === '' && url.password === '') {
    return 'open-external';
  }
  return 'deny';
}
