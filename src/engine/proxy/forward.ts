/**
 * An HTTP request to forward: inside an intercepted tunnel, or absolute-form on the proxy port
 * (axios and some SDKs send `GET http://…` without CONNECT). Both are admitted by the same rule
 * (admission.ts); an admitted request for a mapping then passes the hooks (approvals, budgets:
 * request-hooks.ts) before its secret is resolved, gets the credential, and goes upstream
 * (upstream-exchange.ts).
 */
import type http from 'node:http';
import { AgentClosedError, BadProxyRequestError, SecretUnavailableError } from '../errors.js';
import type { CompiledMapping } from '../rules/compiled-mapping.js';
import type { InjectionSecrets } from '../rules/injectors/types.js';
import type { Admission } from './admission.js';
import { admitRequest } from './admit-request.js';
import { forwardableRequestHeaders } from './hop-by-hop.js';
import type { ProxyContext } from './proxy-context.js';
import { recordedPath } from './outcomes.js';
import { admittedRequest, passHooks } from './before-secret.js';
import { decodableEncodings } from './response-scrubbing.js';
import { ReplayRecord, refreshedSecrets } from './rotation-replay.js';
import type { UpstreamResponse } from './upstream-response.js';
import {
  relayResponse,
  sendUpstream,
  whereOf,
  type Exchange,
  type OutgoingHeaders,
} from './upstream-exchange.js';

const HEALTH_BODY = JSON.stringify({ ok: true, service: 'keygate' });

export function handleRequest(
  context: ProxyContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  isSSL: boolean,
  started: number,
): void {
  const decision = isSSL
    ? admitRequest(context, req, { tunnelled: true, websocket: false })
    : admitPlain(context, req, res, started);
  if (!decision) return;
  if (decision.verdict !== 'forward') {
    const error =
      decision.verdict === 'refuse'
        ? decision.error
        : new BadProxyRequestError('not a request Keygate forwards');
    context.outcomes.deny(res, error, {
      host: decision.host,
      port: decision.port,
      agent: decision.agent,
      started,
      method: req.method,
      path: recordedPath(req.url ?? ''),
    });
    return;
  }
  forwardAdmitted(context, {
    req,
    res,
    secure: decision.secure,
    host: decision.host,
    port: decision.port,
    path: decision.path,
    hostHeader: decision.hostHeader,
    mapping: decision.mapping,
    agent: decision.agent,
    started,
    admitted: decision.mapping
      ? admittedRequest(
          decision,
          decision.mapping,
          req.method ?? 'GET',
          isSSL ? 'intercepted' : 'plaintext',
        )
      : undefined,
  });
}

/** For the activity record of a refusal: the request's own path, never its query. */
function admitPlain(
  context: ProxyContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  started: number,
): Admission | undefined {
  const target = req.url ?? '';
  if (target.startsWith('/') || target === '*') {
    if (req.method === 'GET' && target === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(HEALTH_BODY);
      return undefined;
    }
    // A browser page (or anything not configured as a proxy) talking to the port directly.
    const err = new BadProxyRequestError(
      'this port is an HTTP proxy; point your agent at it with HTTPS_PROXY (see `keygate env`)',
    );
    context.outcomes.deny(res, err, {
      host: '(origin-form)',
      port: 0,
      started,
      method: req.method,
    });
    return undefined;
  }
  return admitRequest(context, req, { tunnelled: false, websocket: false });
}

/** The agent's headers as they go upstream, before any credential is injected. */
function upstreamHeadersOf(x: Exchange): OutgoingHeaders {
  const headers = forwardableRequestHeaders(x.req.headers);
  if (x.hostHeader) headers.host = x.hostHeader;
  return headers;
}

function forwardAdmitted(context: ProxyContext, x: Exchange): void {
  const headers = upstreamHeadersOf(x);
  const mapping = x.mapping;
  if (!mapping || !x.admitted) {
    sendUpstream(context, x, headers, x.path);
    return;
  }
  const held = passHooks(context.hooks, x.admitted, (abort) => {
    x.res.once('close', abort);
  });
  if (held) {
    // Held (an approval) or refused: the body waits, unread, until the hooks decide.
    x.req.pause();
    held.then(
      () => withSecrets(context, x, mapping, headers),
      (err: unknown) => failHeld(context, x, err),
    );
    return;
  }
  withSecrets(context, x, mapping, headers);
}

function failHeld(context: ProxyContext, x: Exchange, err: unknown): void {
  if (x.res.destroyed) agentLeft(context, x);
  else context.outcomes.fail(x.res, err, whereOf(x));
}

/** The agent left while its request waited (hooks, a cold secret): nothing is sent upstream. */
function agentLeft(context: ProxyContext, x: Exchange): void {
  const error = new AgentClosedError('the agent closed the connection before the answer');
  context.outcomes.record('error', whereOf(x), { status: error.status, error: error.errorId });
}

function withSecrets(
  context: ProxyContext,
  x: Exchange,
  mapping: CompiledMapping,
  headers: OutgoingHeaders,
): void {
  const secrets = context.secrets.cached(mapping);
  if (secrets) {
    // Warm, so maybe stale (rotated at its source): keep what sending it again would need.
    const record = new ReplayRecord(x.req, secrets);
    x.onRejected = (upstreamResponse) =>
      replayAfterRejection(context, x, mapping, record, upstreamResponse);
    injectAndSend(context, x, mapping, headers, secrets);
    return;
  }
  // Cold or expired: hold the request body until the secret arrives.
  x.req.pause();
  context.secrets.resolve(mapping).then(
    (resolved) => injectAndSend(context, x, mapping, headers, resolved),
    (err: unknown) => context.outcomes.fail(x.res, err, whereOf(x)),
  );
}

/**
 * The upstream refused a cached credential: if its source now has another value, send the
 * request again with it and let the agent see only that answer (rotation-replay.ts).
 */
function replayAfterRejection(
  context: ProxyContext,
  x: Exchange,
  mapping: CompiledMapping,
  record: ReplayRecord,
  upstreamResponse: UpstreamResponse,
): boolean {
  const status = upstreamResponse.statusCode ?? 0;
  if (!record.mayReplay(status, x.req)) {
    // Too late to send again, but not to fix the next request: refresh in the background.
    void refreshedSecrets(context, mapping, record.secrets);
    return false;
  }
  // Nothing reads the refusal until the refresh decides (it waits, unread, in its stream).
  void refreshedSecrets(context, mapping, record.secrets).then((fresh) => {
    if (x.res.headersSent || x.res.destroyed) {
      upstreamResponse.destroy();
      return;
    }
    if (!fresh) {
      relayResponse(context, x, upstreamResponse);
      return;
    }
    // The refusal is read and dropped, so its connection goes back to the pool. It is recorded
    // all the same: the upstream saw two requests with a credential, and activity says so.
    upstreamResponse.resume();
    context.outcomes.record('injected', whereOf(x), { status });
    context.log.info(
      'the upstream refused a cached credential that has since changed; sent again',
      {
        mapping: mapping.name,
        status,
      },
    );
    const body = record.body(x.req);
    // eslint-disable-next-line no-restricted-syntax -- a replay is rare; clarity wins here
    const again: Exchange = { ...x, scrubber: undefined, onRejected: undefined };
    injectAndSend(context, again, mapping, upstreamHeadersOf(x), fresh, {
      body: Buffer.isBuffer(body) ? body : undefined,
      rejected: record.secrets,
    });
  });
  return true;
}

function injectAndSend(
  context: ProxyContext,
  x: Exchange,
  mapping: CompiledMapping,
  headers: OutgoingHeaders,
  secrets: InjectionSecrets,
  replay?: { readonly body: Buffer | undefined; readonly rejected: InjectionSecrets },
): void {
  if (x.res.destroyed) {
    agentLeft(context, x);
    return;
  }
  const target = { headers, path: x.path };
  try {
    mapping.injector.apply(target, secrets);
    x.scrubber = context.secrets.scrubberFor(secrets, replay?.rejected);
    // Only codecs the scrubber can decode: an echoed key inside a zstd body would slip through.
    // Without the header any coding is acceptable (RFC 9110 §12.5.3), so it is always set.
    headers['accept-encoding'] = decodableEncodings(headers['accept-encoding'] ?? '');
  } catch (err) {
    const reason = err instanceof Error ? err.message : 'invalid credential';
    context.outcomes.fail(
      x.res,
      new SecretUnavailableError(`mapping ${mapping.name}: ${reason}`),
      whereOf(x),
    );
    return;
  }
  sendUpstream(context, x, target.headers, target.path, replay?.body);
}
