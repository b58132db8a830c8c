/**
 * WebSocket upgrades, inside an intercepted tunnel (wss://) or absolute-form on the proxy port
 * (ws://). Admitted by the same rule as every other request (admission.ts): a plaintext upgrade
 * once skipped grants, the Host check and the plaintext refusal (issue 9 §2). Then the hooks,
 * the credential, and the upstream dialled *before* the agent's 101 (websocket-relay.ts).
 */
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { ActivityOutcome } from '../../shared/activity.js';
import {
  AgentClosedError,
  BadProxyRequestError,
  KeygateError,
  SecretUnavailableError,
  UpstreamTimeoutError,
  UpstreamUnreachableError,
} from '../errors.js';
import { authorityText } from '../../shared/uri-host.js';
import type { Admission } from './admission.js';
import { admitRequest } from './admit-request.js';
import type { AuthenticatedAgent } from './agent-directory.js';
import { renderError } from './error-response.js';
import { admittedRequest, passHooks } from './before-secret.js';
import { forwardableRequestHeaders } from './hop-by-hop.js';
import type { VerifyResult } from './keygate-mitm-proxy.js';
import { outcomeOf, recordedPath, type RecordFields } from './outcomes.js';
import type { ProxyContext } from './proxy-context.js';
import type { AdmittedRequest } from './request-hooks.js';
import type { InjectionSecrets } from '../rules/injectors/types.js';
import { scrubWebSocketRefusal } from './response-scrubbing.js';
import type { SecretScrubber } from './secret-scrubber.js';
import { forwardLane } from './dns-lookup.js';
import { classifyUpstreamError } from './upstream-errors.js';
import {
  dialUpstreamWebSocket,
  relayWebSocket,
  type RelayOptions,
  type UpstreamDial,
} from './websocket-relay.js';

/** A verified upgrade whose upstream is already open, waiting for the agent's 101. */
export interface OpenWebSocket {
  readonly upstream: WebSocket;
  /** Messages from the upstream pass through it: an echoed credential becomes the placeholder. */
  readonly scrubber: SecretScrubber | undefined;
  readonly admitted: AdmittedRequest | undefined;
  /** For the activity record of a refusal while it is open. */
  readonly where: RecordFields;
  claimed: boolean;
}

/** RFC 6455 §4.1: `Sec-WebSocket-Protocol` is a comma-separated list, possibly repeated. */
function offeredProtocols(header: string | string[] | undefined): string[] {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return values.flatMap((value) => value.split(',').map((p) => p.trim())).filter(Boolean);
}

/** ws spreads these over its own `Content-Type`; the same spelling keeps one header, not two. */
function capitalise(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/**
 * Whether the agent has left before its 101. On the proxy port its socket is half-open (Node's
 * HTTP server allows that, and after an upgrade nothing ends it): an agent that hangs up sends
 * FIN, 'end' comes, and 'close' would not until something destroys the socket.
 */
class AgentPresence {
  #left: boolean;
  readonly #onLeave: Array<() => void> = [];

  constructor(socket: Duplex) {
    this.#left = socket.destroyed || socket.readableEnded;
    const leave = () => {
      if (this.#left) return;
      this.#left = true;
      for (const callback of this.#onLeave.splice(0)) callback();
    };
    socket.once('end', leave);
    socket.once('close', leave);
  }

  get left(): boolean {
    return this.#left;
  }

  onLeave(callback: () => void): void {
    if (this.#left) callback();
    else this.#onLeave.push(callback);
  }
}

function agentClosed(when: string): KeygateError {
  return new AgentClosedError(`the agent closed the connection ${when}`);
}

function admitUpgrade(
  context: ProxyContext,
  req: http.IncomingMessage,
  secure: boolean,
): Admission {
  if (!secure && (req.url ?? '').startsWith('/')) {
    return {
      verdict: 'refuse',
      host: '(origin-form)',
      port: 0,
      agent: undefined,
      error: new BadProxyRequestError(
        'this port is an HTTP proxy; WebSockets must go through CONNECT or an absolute ws:// URL',
      ),
    };
  }
  return admitRequest(context, req, { tunnelled: secure, websocket: true });
}

export class WebSocketUpgrades {
  readonly #open = new WeakMap<http.IncomingMessage, OpenWebSocket>();

  constructor(private readonly context: ProxyContext) {}

  /** The subprotocol to answer the agent with: the one the upstream selected, or none. */
  protocolFor(req: http.IncomingMessage): string | false {
    return this.#open.get(req)?.upstream.protocol || false;
  }

  async verify(req: http.IncomingMessage, secure: boolean): Promise<VerifyResult> {
    const context = this.context;
    const started = performance.now();
    // Of the target as sent, for a refusal; an admitted upgrade records its admitted path.
    const path = recordedPath(req.url ?? '');
    const presence = new AgentPresence(req.socket);
    const refuse = (
      err: KeygateError,
      host: string,
      port: number,
      agent: AuthenticatedAgent | undefined,
      // What admission refuses is policy; after it, the same vocabulary as an HTTP request's
      // failure (Outcomes.fail): an agent that left is an error, not a refusal.
      outcome: ActivityOutcome = outcomeOf(err),
    ): VerifyResult => {
      context.outcomes.record(outcome, {
        host,
        port,
        agent,
        method: 'GET',
        path,
        status: err.status,
        error: err.errorId,
        started,
      });
      // The same answer as every other refusal (x-should-retry, Retry-After, the body's form).
      const rendering = renderError(err, { headers: req.headers, host });
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(rendering.headers))
        if (name !== 'content-length') headers[capitalise(name)] = String(value);
      return { ok: false, status: rendering.status, body: rendering.body, headers };
    };
    const decision = admitUpgrade(context, req, secure);
    if (decision.verdict === 'refuse')
      return refuse(decision.error, decision.host, decision.port, decision.agent, 'denied');
    if (decision.verdict !== 'forward')
      return refuse(
        new BadProxyRequestError('not an upgrade Keygate forwards'),
        decision.host,
        decision.port,
        decision.agent,
        'denied',
      );
    const { host, port, agent, mapping } = decision;
    const admitted = mapping ? admittedRequest(decision, mapping, 'GET', 'websocket') : undefined;
    const headers = forwardableRequestHeaders(req.headers);
    for (const name of Object.keys(headers))
      if (name.startsWith('sec-websocket-')) delete headers[name];
    // Only a refusal has a body, and it is searched for the credential as bytes: uncoded.
    headers['accept-encoding'] = 'identity';
    if (decision.hostHeader) headers.host = decision.hostHeader;
    const target = { headers, path: decision.path };
    let scrubber: SecretScrubber | undefined;
    if (mapping && admitted) {
      let secrets: InjectionSecrets;
      try {
        await passHooks(context.hooks, admitted, (abort) => presence.onLeave(abort));
        secrets = context.secrets.cached(mapping) ?? (await context.secrets.resolve(mapping));
      } catch (err) {
        const error =
          err instanceof KeygateError
            ? err
            : new SecretUnavailableError(
                `mapping ${mapping.name}: ${err instanceof Error ? err.message : 'invalid credential'}`,
              );
        return refuse(error, host, port, agent);
      }
      try {
        mapping.injector.apply(target, secrets);
        scrubber = context.secrets.scrubberFor(secrets);
      } catch (err) {
        // The injector says "this mapping can't be used: …"; the agent is told which, as for an
        // HTTP request (forward.ts injectAndSend).
        const reason = err instanceof Error ? err.message : 'invalid credential';
        return refuse(
          new SecretUnavailableError(`mapping ${mapping.name}: ${reason}`),
          host,
          port,
          agent,
        );
      }
    }
    // Nothing goes upstream, credential and all, for an agent that left while it was resolved.
    if (presence.left) return refuse(agentClosed('before its upgrade was sent'), host, port, agent);
    const secureUpstream = decision.secure;
    const url = `${secureUpstream ? 'wss' : 'ws'}://${authorityText(host, port, secureUpstream ? 443 : 80)}${target.path}`;
    const where = { host, port, agent, mapping: mapping?.name, path: decision.path, started };
    let dialled: UpstreamDial;
    // An agent that hangs up while the upstream answers gives the dial up: nothing is left open.
    const dialAbort = new AbortController();
    presence.onLeave(() => dialAbort.abort());
    try {
      dialled = await dialUpstreamWebSocket({
        url,
        protocols: offeredProtocols(req.headers['sec-websocket-protocol']),
        headers: target.headers,
        agent: secureUpstream ? context.options.upstream.https : context.options.upstream.http,
        // The agent's own DNS budget, as for an HTTP request (dns-lookup.ts).
        lookup: context.options.upstream.dns.lookupFor(
          agent.name,
          forwardLane(secureUpstream, mapping !== undefined),
        ),
        timeoutMs: context.timeouts.connectMs,
        signal: dialAbort.signal,
      });
    } catch (err) {
      if (err instanceof AgentClosedError) return refuse(err, host, port, agent);
      const label = `WebSocket to ${host}:${port}`;
      // ws fails the handshake when none of the offered subprotocols was selected, as RFC 6455
      // §4.1 lets a client do and browsers do: the agent's own client would fail it too.
      const error =
        err instanceof Error && /subprotocol/.test(err.message)
          ? new UpstreamUnreachableError(`${label}: ${err.message.toLowerCase()}`, { cause: err })
          : // Connect, TLS and the answer within the connect timeout: the HTTP path's 504.
            err instanceof UpstreamTimeoutError
            ? new UpstreamTimeoutError(`${label}: ${err.message}`, { cause: err })
            : classifyUpstreamError(err, label);
      return refuse(error, host, port, agent);
    }
    if (dialled.kind === 'refused') {
      // The upstream's own answer (a 401, a 404…), as the agent would have had it directly,
      // through the scrubbing point like every other upstream byte.
      const refusal = scrubWebSocketRefusal(scrubber, dialled.refusal);
      context.outcomes.record(mapping ? 'injected' : 'forwarded', where, {
        method: 'GET',
        status: dialled.refusal.status,
      });
      return {
        ok: false,
        status: dialled.refusal.status,
        body: refusal.body,
        headers: refusal.headers,
      };
    }
    if (presence.left) {
      // Gone while the upstream answered: its 'close' came and went, and ws will not hand over
      // its side, so nothing else would ever close this upstream.
      dialled.socket.terminate();
      return refuse(agentClosed('before its 101'), host, port, agent);
    }
    const open: OpenWebSocket = {
      upstream: dialled.socket,
      scrubber,
      admitted,
      where,
      claimed: false,
    };
    this.#open.set(req, open);
    // If the agent is gone before its 101 is written, ws never hands its side over.
    presence.onLeave(() => {
      if (!open.claimed) open.upstream.terminate();
    });
    context.outcomes.record(mapping ? 'injected' : 'forwarded', where, {
      method: 'GET',
      status: 101,
    });
    return { ok: true };
  }

  accept(agentSide: WebSocket, req: http.IncomingMessage): void {
    const open = this.#open.get(req);
    if (!open || open.claimed) {
      this.context.log.error('WebSocket accepted without a verified upstream', { url: req.url });
      agentSide.terminate();
      return;
    }
    open.claimed = true;
    const { hooks, outcomes } = this.context;
    const admitted = open.admitted;
    const observer = admitted ? hooks.onWebSocket?.(admitted) : undefined;
    const options: RelayOptions = { scrubber: open.scrubber, observer };
    if (admitted && hooks.beforeWebSocketMessage) {
      options.beforeAgentMessage = () => hooks.beforeWebSocketMessage!(admitted);
      // The WebSocket is closed at this message: recorded as a request refused now.
      options.onRefused = (err: unknown) => {
        const error =
          err instanceof KeygateError
            ? err
            : new UpstreamUnreachableError('internal proxy error', { cause: err });
        const fields: RecordFields = {
          host: open.where.host,
          port: open.where.port,
          agent: open.where.agent,
          mapping: open.where.mapping,
          path: open.where.path,
          method: 'GET',
          started: performance.now(),
        };
        outcomes.record(outcomeOf(error), fields, { status: error.status, error: error.errorId });
      };
    }
    relayWebSocket(agentSide, open.upstream, options);
  }
}
