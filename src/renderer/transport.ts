/**
 * How the settings window reaches the engine. In the app, the preload's bridge
 * (`window.keygate.call`, Electron IPC). In a browser opened from `keygate serve --ui`, loopback
 * HTTP with the per-launch token, which arrives in the URL fragment: it is moved to this tab's
 * sessionStorage (so a reload keeps working) and removed from the address bar at once.
 */
import type { ApiTransport } from '../shared/api-client.js';

/** What the preload exposes; `call` resolves to the envelope `{ result }` or `{ error }`. */
export interface KeygateBridge {
  call(op: string, request: unknown): Promise<unknown>;
}

declare global {
  interface Window {
    keygate?: KeygateBridge;
  }
}

const TOKEN_KEY = 'keygate.uiToken';

export type TransportChoice =
  | { kind: 'app'; transport: ApiTransport }
  | { kind: 'http'; transport: ApiTransport }
  | { kind: 'none'; reason: string };

export interface TransportEvents {
  /** The server refused the token (serve restarted with a new one). */
  onUnauthorized(): void;
}

export function chooseTransport(events: TransportEvents): TransportChoice {
  const bridge = window.keygate;
  if (bridge && typeof bridge.call === 'function') {
    return { kind: 'app', transport: { call: (op, request) => bridge.call(op, request) } };
  }
  const token = takeToken();
  if (!token) {
    return {
      kind: 'none',
      reason:
        'Open the link that `keygate serve --ui` printed: it carries this launch’s access token.',
    };
  }
  return { kind: 'http', transport: httpTransport(token, events) };
}

function takeToken(): string | undefined {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromHash);
    } catch {
      // Storage may be off; the token still works until the page is reloaded.
    }
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function httpTransport(token: string, events: TransportEvents): ApiTransport {
  return {
    async call(op, request) {
      const response = await fetch(`/api/${encodeURIComponent(op)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(request ?? {}),
        cache: 'no-store',
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
      });
      if (response.status === 401) {
        try {
          sessionStorage.removeItem(TOKEN_KEY);
        } catch {
          // Nothing stored.
        }
        events.onUnauthorized();
      }
      try {
        return (await response.json()) as unknown;
      } catch {
        return { error: { name: 'HttpError', message: `HTTP ${response.status}` } };
      }
    },
  };
}
