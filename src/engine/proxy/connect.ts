/**
 * A CONNECT: admitted (admission.ts), then intercepted (a mapping covers host:port: Keygate
 * terminates TLS with a leaf of its own CA) or tunnelled (nothing does: bytes pass untouched),
 * or refused with a status the agent can show.
 */
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { UpstreamUnreachableError } from '../errors.js';
import { admit } from './admission.js';
import type { InterceptedConnection, ProxyContext } from './proxy-context.js';
import { terminateTls } from './tls-termination.js';
import { CONNECTION_ESTABLISHED, logTunnelFailure, openTunnel } from './tunnel.js';
import { classifyUpstreamError } from './upstream-errors.js';
import { describeHandshakeFailure } from './handshake-failure.js';

export function handleConnect(
  context: ProxyContext,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const started = performance.now();
  const policy = context.policy();
  const decision = admit(
    {
      shape: 'connect',
      agent: policy.agents.authenticate(req.headers['proxy-authorization']),
      requestTarget: req.url ?? '',
      hostHeader: req.headers.host,
    },
    policy,
  );
  const { host, port } = decision;
  switch (decision.verdict) {
    case 'refuse':
      context.outcomes.refuseConnect(socket, decision.error, {
        host,
        port,
        agent: decision.agent,
        started,
      });
      return;
    case 'intercept':
      intercept(context, socket, head, { host, port, agent: decision.agent }, started);
      return;
    case 'tunnel':
      tunnel(context, socket, head, { host, port, agent: decision.agent }, started);
      return;
    case 'forward':
      // Not a verdict for CONNECT; kept exhaustive so a new one cannot slip through unhandled.
      socket.destroy();
      return;
  }
}

function tunnel(
  context: ProxyContext,
  socket: Duplex,
  head: Buffer,
  conn: InterceptedConnection,
  started: number,
): void {
  const { options, timeouts, outcomes } = context;
  const route = options.routes.route(conn.host, conn.port);
  const destination = {
    host: route.host,
    port: route.port,
    lookup: options.upstream.dns.lookupFor(conn.agent.name, 'unmapped'),
  };
  const where = { host: conn.host, port: conn.port, agent: conn.agent, started };
  openTunnel(socket, head, destination, timeouts.connectMs, {
    onOpen: () => outcomes.record('tunneled', where, { method: 'CONNECT', status: 200 }),
    onFailure: (err) => {
      const error = classifyUpstreamError(err, `tunnel to ${conn.host}:${conn.port}`);
      logTunnelFailure(context.log, conn, error);
      outcomes.refuseConnect(socket, error, where);
    },
  });
}

function intercept(
  context: ProxyContext,
  socket: Duplex,
  head: Buffer,
  conn: InterceptedConnection,
  started: number,
): void {
  const leaves = context.options.leaves;
  try {
    // What can be known without minting is checked before the CONNECT is answered, so the
    // agent gets a status it can show rather than a TLS failure.
    leaves.assertCanMint(conn.host);
  } catch (err) {
    mintFailed(context, socket, conn, started, err, false);
    return;
  }
  // Answered before the leaf is ready (as mitmproxy does): a new host's mint (~1 ms) then
  // overlaps the agent setting up its side of TLS, instead of adding to it. The agent's bytes
  // wait in the paused socket until the TLSSocket takes them.
  socket.pause();
  socket.write(CONNECTION_ESTABLISHED);
  leaves.secureContextFor(conn.host).then(
    (secureContext) => {
      if (socket.destroyed) return;
      terminateTls(socket, head, secureContext, context.timeouts.handshakeMs, {
        onSecure: (tlsSocket) => {
          context.connections.set(tlsSocket, conn);
          context.mitm.acceptIntercepted(tlsSocket);
        },
        onHandshakeError: (err) => {
          const failure = describeHandshakeFailure(err);
          context.log[failure.level](failure.message, {
            host: conn.host,
            agent: conn.agent.name,
            reason: err.message,
          });
        },
      });
      socket.resume();
    },
    (err: unknown) => mintFailed(context, socket, conn, started, err, true),
  );
}

/**
 * Before the 200, the agent gets a 502 naming the problem. After it (an OpenSSL failure while
 * minting: not expected in practice), all that is left is to close the tunnel; the log and the
 * activity record carry the reason.
 */
function mintFailed(
  context: ProxyContext,
  socket: Duplex,
  conn: InterceptedConnection,
  started: number,
  err: unknown,
  answered: boolean,
): void {
  context.log.error('could not mint a certificate', { host: conn.host, err });
  const error = new UpstreamUnreachableError(`could not mint a certificate for ${conn.host}`);
  const where = { host: conn.host, port: conn.port, agent: conn.agent, started };
  if (!answered) {
    context.outcomes.refuseConnect(socket, error, where);
    return;
  }
  socket.destroy();
  context.outcomes.record('error', where, {
    method: 'CONNECT',
    status: error.status,
    error: error.errorId,
  });
}
