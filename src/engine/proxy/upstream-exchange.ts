/**
 * One admitted request sent upstream and its answer relayed back: over verified TLS (or plain
 * HTTP where admission allowed it), with backpressure both ways, named errors for every way an
 * upstream can fail, and, when a credential was injected, every byte of the answer through the
 * scrubbing point (response-scrubbing.ts).
 */
import type http from 'node:http';
import { uriHost } from '../../shared/uri-host.js';
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
import { ResponseHandler, type UpstreamResponse } from './upstream-response.js';

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
  onRejected?: ((upstreamResponse: UpstreamResponse) => boolean) | undefined;
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
  /** A replay's body, kept whole from the first attempt; otherwise the agent's is streamed. */
  replayBody?: Buffer,
): void {
  const { req, res } = x;
  // Keygate's server has already answered `Expect: 100-continue` (Node sends the 100 before
  // 'request'), so the body follows at once; undici refuses the header rather than forward it.
  delete headers.expect;
  let responded = false;
  const handler = new ResponseHandler({
    onResponse(upstreamResponse) {
      responded = true;
      const status = upstreamResponse.statusCode;
      if ((status === 401 || status === 403) && x.onRejected?.(upstreamResponse)) return;
      relayResponse(context, x, upstreamResponse);
    },
    onError(err) {
      upstreamFailed(context, x, err, responded);
    },
  });
  res.on('close', () => {
    if (!res.writableFinished) handler.abort(new AgentClosedError('the agent left'));
  });
  req.on('error', (err) => handler.abort(err));
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  // undici reads the body once it has a connection. Until then nothing may flow: another reader
  // (ReplayRecord's copy) would put the stream in flowing mode and the chunks would be gone
  // before undici listens. Paused, they wait in the stream; undici resumes it.
  if (hasBody && replayBody === undefined) req.pause();
  context.upstream.dispatcherFor(x.agent.name, forwardLane(x.secure, !!x.mapping)).dispatch(
    {
      origin: `${x.secure ? 'https' : 'http'}://${uriHost(x.host)}:${x.port}`,
      method: req.method ?? 'GET',
      path,
      headers: headers as Record<string, string | string[]>,
      // undici streams the agent's body with backpressure: an upload never outruns the upstream.
      body: replayBody ?? (hasBody ? req : null),
      // The idle timeout is the connection's (upstream-client.ts), not undici's per request.
      headersTimeout: 0,
      bodyTimeout: 0,
    },
    handler,
  );
  // No body (most GETs): let the request's 'end' come, as a drained stream would.
  if (replayBody !== undefined || !hasBody) req.resume();
}

export function relayResponse(
  context: ProxyContext,
  x: Exchange,
  upstreamResponse: UpstreamResponse,
): void {
  const { req, res } = x;
  const status = upstreamResponse.statusCode;
  const responseHeaders = forwardableResponseHeaders(upstreamResponse.rawHeaders);
  let statusMessage: string | undefined = upstreamResponse.statusMessage;
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
  upstreamResponse: UpstreamResponse,
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
    const status = upstreamResponse.statusCode;
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
