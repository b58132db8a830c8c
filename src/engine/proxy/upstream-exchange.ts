/**
 * One admitted request sent upstream and its answer relayed back: over verified TLS (or plain
 * HTTP where admission allowed it), with backpressure both ways, named errors for every way an
 * upstream can fail, and, when a credential was injected, every byte of the answer through the
 * scrubbing point (response-scrubbing.ts).
 */
import http from 'node:http';
import https from 'node:https';
import { AgentClosedError, errnoCode, UpstreamUnreachableError } from '../errors.js';
import type { CompiledMapping } from '../rules/compiled-mapping.js';
import type { AuthenticatedAgent } from './agent-directory.js';
import { forwardableResponseHeaders } from './hop-by-hop.js';
import type { RecordFields } from './outcomes.js';
import type { ProxyContext } from './proxy-context.js';
import { relay } from './relay.js';
import type { AdmittedRequest, ResponseObserver } from './request-hooks.js';
import { isScrubbableWhole, scrubbingStages, scrubResponseHead } from './response-scrubbing.js';
import type { SecretScrubber } from './secret-scrubber.js';
import { forwardLane } from './dns-lookup.js';
import { classifyUpstreamError, UpstreamTimeout } from './upstream-errors.js';

export type OutgoingHeaders = Record<string, string | string[] | undefined>;

export interface Exchange {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  /** Origin-form, as admitted (normalised on a mapped host). */
  readonly path: string;
  /** Host header to send upstream; undefined keeps the agent's. */
  readonly hostHeader: string | undefined;
  readonly mapping: CompiledMapping | undefined;
  readonly agent: AuthenticatedAgent;
  readonly started: number;
  /** For the hooks, when the request was admitted to a mapping. */
  readonly admitted: AdmittedRequest | undefined;
  /** Set when a credential was injected: the response must not carry it back. */
  scrubber?: SecretScrubber | undefined;
  /**
   * Consulted when the upstream refuses the credential (401/403): true means the caller took the
   * response over (rotation-replay.ts), to send the request again or relay this one itself.
   */
  onRejected?: ((upstreamResponse: http.IncomingMessage) => boolean) | undefined;
}

export function whereOf(x: Exchange): RecordFields {
  return {
    host: x.host,
    port: x.port,
    started: x.started,
    method: x.req.method,
    path: x.path,
    agent: x.agent,
    mapping: x.mapping?.name,
  };
}

export function sendUpstream(
  context: ProxyContext,
  x: Exchange,
  headers: OutgoingHeaders,
  path: string,
  /** A replay's body, kept whole from the first attempt; otherwise the agent's is piped. */
  replayBody?: Buffer,
): void {
  const { req, res } = x;
  const { options, timeouts } = context;
  const upstreamRequest = (x.secure ? https : http).request({
    host: x.host,
    port: x.port,
    method: req.method,
    path,
    headers: headers as http.OutgoingHttpHeaders,
    agent: x.secure ? options.upstream.https : options.upstream.http,
    // Per agent, and off the thread pool for hosts without a mapping (dns-lookup.ts).
    lookup: options.upstream.dns.lookupFor(x.agent.name, forwardLane(x.secure, !!x.mapping)),
    setHost: headers.host === undefined,
  });
  upstreamRequest.setTimeout(timeouts.upstreamIdleMs, () =>
    upstreamRequest.destroy(new UpstreamTimeout('idle')),
  );
  upstreamRequest.once('socket', (socket) => {
    // A pooled socket is already connected; a new one gets connectMs to connect and handshake.
    if (!socket.connecting) return;
    const timer = setTimeout(
      () => upstreamRequest.destroy(new UpstreamTimeout('connect')),
      timeouts.connectMs,
    );
    timer.unref();
    socket.once(x.secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
  let responded = false;
  upstreamRequest.on('response', (upstreamResponse) => {
    responded = true;
    const status = upstreamResponse.statusCode;
    if ((status === 401 || status === 403) && x.onRejected?.(upstreamResponse)) return;
    relayResponse(context, x, upstreamResponse);
  });
  upstreamRequest.on('error', (err) => {
    req.unpipe(upstreamRequest);
    upstreamFailed(context, x, err, responded);
  });
  res.on('close', () => {
    if (!res.writableFinished) upstreamRequest.destroy();
  });
  req.on('error', () => upstreamRequest.destroy());
  if (replayBody !== undefined) {
    upstreamRequest.end(replayBody);
    return;
  }
  // pipe() honours upstreamRequest.write()'s return value: an upload never outruns the upstream.
  if (
    req.headers['content-length'] === undefined &&
    req.headers['transfer-encoding'] === undefined
  ) {
    // No body (most GETs): end now rather than set up a pipe for an empty stream.
    upstreamRequest.end();
    req.resume();
    return;
  }
  req.pipe(upstreamRequest);
  req.resume();
}

export function relayResponse(
  context: ProxyContext,
  x: Exchange,
  upstreamResponse: http.IncomingMessage,
): void {
  const { req, res } = x;
  const status = upstreamResponse.statusCode ?? 502;
  const responseHeaders = forwardableResponseHeaders(upstreamResponse.rawHeaders);
  let statusMessage = upstreamResponse.statusMessage;
  const stages: NodeJS.ReadWriteStream[] = [];
  if (x.scrubber) {
    const hasBody = req.method !== 'HEAD' && status !== 204 && status !== 304;
    try {
      statusMessage = scrubResponseHead(x.scrubber, upstreamResponse, responseHeaders);
      if (hasBody && isScrubbableWhole(responseHeaders)) {
        const observer = observe(context, x, status, responseHeaders);
        sendScrubbedWhole(context, x, x.scrubber, upstreamResponse, {
          headers: responseHeaders,
          statusMessage,
          observer,
        });
        return;
      }
      stages.push(...scrubbingStages(x.scrubber, responseHeaders, hasBody));
    } catch (err) {
      // Fail closed: a body that cannot be searched may carry the credential back.
      upstreamResponse.destroy();
      const reason = err instanceof Error ? err.message : String(err);
      context.outcomes.fail(
        res,
        new UpstreamUnreachableError(`${x.host}: the upstream's ${reason}; not passed on`),
        whereOf(x),
      );
      return;
    }
  }
  // The hooks see what the agent gets: the head as sent, the body after scrubbing and decoding.
  const observer = observe(context, x, status, responseHeaders);
  res.writeHead(status, statusMessage, responseHeaders);
  // Streams chunk by chunk (SSE stays live) and stops reading upstream while the agent is slow.
  relay(upstreamResponse, stages, res, (err) => {
    observer?.end(!err);
    if (err)
      context.log.debug('response stream ended early', {
        host: x.host,
        code: (err as NodeJS.ErrnoException).code,
      });
    context.outcomes.record(x.mapping ? 'injected' : 'forwarded', whereOf(x), {
      status: upstreamResponse.statusCode,
      mapping: x.mapping?.name,
    });
  });
  // After relay() has piped it, so this listener never starts the flow on its own.
  if (observer)
    (stages.at(-1) ?? upstreamResponse).on('data', (chunk: Buffer) => observer.chunk(chunk));
}

function observe(
  context: ProxyContext,
  x: Exchange,
  status: number,
  headers: http.OutgoingHttpHeaders,
): ResponseObserver | undefined {
  if (!x.admitted || !context.hooks.onResponse) return undefined;
  return context.hooks.onResponse(x.admitted, status, headers as http.IncomingHttpHeaders);
}

/** The upstream request or its response failed; the agent hears of it as well as it still can. */
function upstreamFailed(context: ProxyContext, x: Exchange, err: Error, responded: boolean): void {
  const { res } = x;
  if (res.headersSent) {
    // Mid-body: the agent must see a broken response, not a short one that looks whole. An
    // answer already complete (an error Keygate sent) is left to flush.
    if (!res.writableEnded) res.destroy();
    return;
  }
  if (res.destroyed) {
    // The agent left first (its 'close' is what cut the upstream): record that, not an
    // upstream failure that never happened.
    const error = new AgentClosedError('the agent closed the connection before the answer');
    context.outcomes.record('error', whereOf(x), { status: error.status, error: error.errorId });
    return;
  }
  const where = x.mapping ? `mapping ${x.mapping.name}` : `${x.host}:${x.port}`;
  const code = errnoCode(err);
  // Answered, then broken off before any of it reached the agent (a body scrubbed whole).
  const error =
    responded && !(err instanceof UpstreamTimeout)
      ? new UpstreamUnreachableError(
          `${where}: the upstream broke off its response (${code ? `${code}: ` : ''}${err.message}); nothing was passed on`,
          { cause: err },
        )
      : classifyUpstreamError(err, where);
  context.outcomes.fail(res, error, whereOf(x));
}

/**
 * A small plain body (isScrubbableWhole): read whole, scrubbed, and sent with its exact length
 * in one write. Nothing reaches the agent until the upstream's body is complete, so an upstream
 * that breaks off mid-body still gets the agent a clean 502 rather than a truncated 200.
 */
function sendScrubbedWhole(
  context: ProxyContext,
  x: Exchange,
  scrubber: SecretScrubber,
  upstreamResponse: http.IncomingMessage,
  head: {
    readonly headers: http.OutgoingHttpHeaders;
    readonly statusMessage: string | undefined;
    readonly observer: ResponseObserver | undefined;
  },
): void {
  const { headers, statusMessage, observer } = head;
  const { res } = x;
  const chunks: Buffer[] = [];
  let size = 0;
  upstreamResponse.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
  });
  upstreamResponse.once('error', (err) => {
    observer?.end(false);
    upstreamFailed(context, x, err, true);
  });
  upstreamResponse.once('end', () => {
    if (res.headersSent || res.destroyed) {
      observer?.end(false);
      return;
    }
    const body = scrubber.scrub(
      chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size),
    );
    if (observer) {
      observer.chunk(body);
      observer.end(true);
    }
    headers['content-length'] = String(body.length);
    const status = upstreamResponse.statusCode ?? 502;
    res.writeHead(status, statusMessage, headers);
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      context.outcomes.record('injected', whereOf(x), { status, mapping: x.mapping?.name });
    };
    res.once('finish', record);
    res.once('close', record);
    res.end(body);
  });
}
