/**
 * From a request as it arrived to admission's input (admission.ts): inside a tunnel Keygate
 * terminated, the CONNECT that admitted it says where it goes and who sent it; on the proxy
 * port, the absolute-form target and this request's own Proxy-Authorization do. The HTTP and
 * WebSocket handlers both start here, so the two can never read a request differently.
 */
import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import { BadProxyRequestError } from '../errors.js';
import { admit, type Admission } from './admission.js';
import type { ProxyContext } from './proxy-context.js';

export function admitRequest(
  context: ProxyContext,
  req: http.IncomingMessage,
  options: { readonly tunnelled: boolean; readonly websocket: boolean },
): Admission {
  const policy = context.policy();
  // The request-target as the agent sent it (keygate-mitm-proxy.ts leaves it untouched).
  const requestTarget = req.url ?? '';
  if (!options.tunnelled) {
    return admit(
      {
        shape: options.websocket ? 'websocket-plain' : 'plaintext',
        agent: policy.agents.authenticate(req.headers['proxy-authorization']),
        requestTarget,
        hostHeader: req.headers.host,
      },
      policy,
    );
  }
  const conn = context.connections.get(req.socket as TLSSocket);
  if (!conn) {
    // Defect 1 (docs/decisions/0002): only sockets Keygate terminated after an admitted CONNECT.
    const what = options.websocket ? 'upgrade' : 'request';
    return {
      verdict: 'refuse',
      host: '(unknown)',
      port: 0,
      agent: undefined,
      error: new BadProxyRequestError(`${what} did not arrive through an authenticated CONNECT`),
    };
  }
  return admit(
    {
      shape: options.websocket ? 'websocket-tls' : 'intercepted',
      agent: conn.agent,
      tunnel: conn,
      requestTarget: requestTarget || '/',
      hostHeader: req.headers.host,
    },
    policy,
  );
}
