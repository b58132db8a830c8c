/**
 * A KeygateMitmProxy as the proxy tests build one when they do not look at WebSocket upgrades:
 * the handlers accept every upgrade and relay nothing (websocket.test.ts wires the real ones).
 */
import type http from 'node:http';
import type https from 'node:https';
import type { Logger } from '../../src/engine/log/logger.js';
import {
  KeygateMitmProxy,
  type WebSocketHandlers,
} from '../../src/engine/proxy/keygate-mitm-proxy.js';

export const IGNORED_WEBSOCKETS: WebSocketHandlers = {
  verify: () => Promise.resolve({ ok: true }),
  protocolFor: () => false,
  accept: () => undefined,
};

export function testMitm(
  logger: Logger,
  upstream: { readonly http: http.Agent; readonly https: https.Agent },
): KeygateMitmProxy {
  return new KeygateMitmProxy({
    logger,
    webSockets: IGNORED_WEBSOCKETS,
    httpAgent: upstream.http,
    httpsAgent: upstream.https,
  });
}
