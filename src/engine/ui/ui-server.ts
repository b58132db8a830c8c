/**
 * `keygate serve --ui`: the settings UI over loopback HTTP. It serves the renderer bundle (the
 * same one the app shows) and carries the API contract as `POST /api/<operation>` with a JSON
 * body, answered with the envelope `{ result }` or `{ error: { name, message } }`.
 *
 * Security (docs/security.md): loopback only; a per-launch 256-bit token, handed to the user in
 * the URL fragment (which never reaches a server log or a Referer) and presented as a Bearer
 * header; a second one, for the local CLI (serve.json), that answers only the approvals; Host and Origin allowlists (guards.ts); no CORS, ever; a strict CSP. Request bodies can
 * hold a secret (`token.set`), so nothing here logs them.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { isApiOperation, type ApiHandlers, type ApiOperation } from '../../shared/api.js';
import { errorBody, type ApiEnvelope, type ApiErrorBody } from '../../shared/api-client.js';
import { HTTP_UI_CSP } from '../../shared/csp.js';
import { dispatch } from '../dispatch.js';
import { InvalidInputError, InvalidRequestError, NamedError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import {
  Forbidden,
  HttpRefusal,
  InternalError,
  MethodNotAllowed,
  NotFound,
  PayloadTooLarge,
  Unauthorized,
  UnknownOperation,
  UnsupportedMediaType,
} from './http-refusals.js';
import { bearerMatches, hostAllowed, newUiToken, originAllowed } from './guards.js';
import { findStaticFile, type StaticMount } from './static-files.js';

export const UI_CSP = HTTP_UI_CSP;

/** Sent on every answer, API or file. Note what is absent: any Access-Control-Allow-* header. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export const MAX_BODY_BYTES = 1024 * 1024;
const API_PREFIX = '/api/';
/** What the control token (serve.json, for `keygate approvals/approve/deny`) may call. */
export const CONTROL_OPERATIONS: ReadonlySet<string> = new Set<ApiOperation>([
  'approvals.list',
  'approvals.decide',
]);

export interface UiServerOptions {
  /** Whose handlers answer the API: serve's own Controller, so status and activity are live. */
  readonly controller: { readonly handlers: ApiHandlers };
  /** Only loopback: `127.0.0.1`. */
  readonly host?: '127.0.0.1';
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /**
   * The built settings UI (dist/renderer), served at `/`: index.html and styles at its top, the
   * compiled modules under renderer/ and shared/ (tsconfig.renderer.json), all inside it.
   */
  readonly staticDir?: string;
  readonly logger?: Logger;
}

export interface UiServer {
  /** `http://127.0.0.1:PORT/`, without the token. */
  readonly url: string;
  /** SECRET: never log. Print it once, in the URL fragment (`launchUrl`). */
  readonly token: string;
  readonly port: number;
  /** The URL to open: `http://127.0.0.1:PORT/#token=…`. */
  readonly launchUrl: string;
  /** SECRET: never log. Answers only CONTROL_OPERATIONS; serve keeps it in its 0600 serve.json. */
  readonly controlToken: string;
  close(): Promise<void>;
}

function send(
  res: http.ServerResponse,
  status: number,
  body: string | Buffer,
  contentType: string,
  extra: Readonly<Record<string, string>> = {},
  head = false,
): void {
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    'content-type': contentType,
    'content-length': String(payload.length),
  });
  res.end(head ? undefined : payload);
}

function sendJson(
  res: http.ServerResponse,
  status: number,
  envelope: ApiEnvelope,
  extra?: Readonly<Record<string, string>>,
): void {
  send(res, status, JSON.stringify(envelope), 'application/json; charset=utf-8', extra);
}

function sendError(res: http.ServerResponse, err: HttpRefusal): void {
  const error: ApiErrorBody = { name: err.name, message: err.message, code: err.code };
  sendJson(res, err.status, { error }, err.headers);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    return Promise.reject(tooLarge());
  }
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolveBody(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}

function tooLarge(): HttpRefusal {
  return new PayloadTooLarge(`the request body is over ${MAX_BODY_BYTES} bytes`, {
    connection: 'close',
  });
}

function isJsonContentType(value: string | undefined): boolean {
  return value?.split(';')[0]?.trim().toLowerCase() === 'application/json';
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1')
    throw new InvalidInputError('the settings UI only listens on 127.0.0.1');
  const log = options.logger ?? silentLogger;
  const token = newUiToken();
  const controlToken = newUiToken();
  const mounts: StaticMount[] = options.staticDir
    ? [{ prefix: '/', dir: resolve(options.staticDir) }]
    : [];
  const handlers = options.controller.handlers;
  let port = 0;

  async function api(req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    if (req.method !== 'POST') {
      throw new MethodNotAllowed('the API only answers POST', { allow: 'POST' });
    }
    const full = bearerMatches(req.headers.authorization, token);
    const control = !full && bearerMatches(req.headers.authorization, controlToken);
    if (!full && !control) {
      throw new Unauthorized('missing or wrong token: open the link `keygate serve --ui` printed', {
        'www-authenticate': 'Bearer realm="keygate"',
      });
    }
    const op = path.slice(API_PREFIX.length);
    if (!isApiOperation(op)) throw new UnknownOperation(`no operation "${op}"`);
    if (control && !CONTROL_OPERATIONS.has(op))
      throw new Forbidden('the control token only answers approvals');
    if (!isJsonContentType(req.headers['content-type'])) {
      throw new UnsupportedMediaType('send the request as application/json');
    }
    const raw = await readBody(req);
    try {
      let request: unknown;
      try {
        request = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
      } catch {
        throw new InvalidRequestError(`${op}: the request body is not valid JSON`);
      }
      // The schema decides the rest: the same InvalidRequestError as over IPC.
      const result = await dispatch(handlers, op, request);
      sendJson(res, 200, { result: result ?? null });
    } catch (err) {
      const body = errorBody(err);
      const status = err instanceof NamedError ? err.status : 500;
      if (status < 500) {
        sendJson(res, status, { error: body });
        return;
      }
      // Messages name causes, never secrets (the engine's rule); stacks stay here, unlogged too.
      log.warn('settings UI operation failed', { op, error: body.name, message: body.message });
      sendJson(res, status, { error: body });
    }
  }

  async function file(req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new MethodNotAllowed('only GET', { allow: 'GET, HEAD' });
    }
    const found = await findStaticFile(mounts, path);
    if (!found) throw new NotFound('no such file');
    send(res, 200, await readFile(found.path), found.contentType, {}, req.method === 'HEAD');
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse) {
    if (!hostAllowed(req.headers, port)) {
      throw new Forbidden(`use http://127.0.0.1:${port}/ (Host not allowed)`);
    }
    if (!originAllowed(req.headers, port)) {
      throw new Forbidden('cross-origin requests are not allowed');
    }
    // No CORS: a preflight is answered like any other unsupported method.
    if (req.method === 'OPTIONS') {
      throw new MethodNotAllowed('no CORS here', { allow: 'GET, HEAD, POST' });
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith(API_PREFIX)) await api(req, res, path);
    else await file(req, res, path);
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpRefusal) sendError(res, err);
      else {
        log.warn('settings UI request failed', { error: errorBody(err).name });
        sendError(res, new InternalError('the request failed'));
      }
    });
  });
  // Loopback and local: short timeouts are fine and keep idle keep-alive sockets from piling up.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`the settings UI port ${options.port ?? 0} on ${host} is in use`, {
              cause: err,
            })
          : err,
      ),
    );
    server.listen({ host, port: options.port ?? 0, exclusive: true }, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => log.error('settings UI server error', { err }));
      resolveListen();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${host}:${port}/`;
  return {
    url,
    token,
    controlToken,
    port,
    launchUrl: `${url}#token=${token}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}
