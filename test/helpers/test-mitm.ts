/**
 * A KeygateMitmProxy as the proxy tests build one when they do not look at WebSocket upgrades:
 * the handlers accept every upgrade and relay nothing (websocket.test.ts wires the real ones).
 */
import type { Logger } from '../../src/engine/log/logger.js';
import {
  KeygateMitmProxy,
  type RequestHandler,
  type WebSocketHandlers,
} from '../../src/engine/proxy/keygate-mitm-proxy.js';

export const IGNORED_WEBSOCKETS: WebSocketHandlers = {
  verify: () => Promise.resolve({ ok: true }),
  protocolFor: () => false,
  accept: () => undefined,
};

/** For tests whose requests reach the handlers by another way: any that arrives here is a 500. */
const UNWIRED: RequestHandler = (_req, res) => {
  res.writeHead(500, { 'content-type': 'text/plain' });
  res.end('this test wired no request handler to the mitm proxy');
};

export function testMitm(logger: Logger, requests: RequestHandler = UNWIRED): KeygateMitmProxy {
  return new KeygateMitmProxy({ logger, webSockets: IGNORED_WEBSOCKETS, requests });
}
