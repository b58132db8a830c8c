/**
 * How a KeygateError reaches the agent: one status, a JSON body, and `X-Keygate-Error`, so both
 * people (reading the body) and tools (reading the header) can tell Keygate's refusals from the
 * upstream's own errors.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KeygateError } from '../errors.js';

export const KEYGATE_ERROR_HEADER = 'x-keygate-error';
const PROXY_AUTHENTICATE = 'Basic realm="keygate"';

function headersFor(err: KeygateError, body: string): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [KEYGATE_ERROR_HEADER]: err.errorId,
    'cache-control': 'no-store',
    ...err.headers,
  };
  if (err.status === 407) headers['proxy-authenticate'] = PROXY_AUTHENTICATE;
  return headers;
}

export function sendError(res: ServerResponse, err: KeygateError): void {
  if (res.headersSent) {
    // Too late for a status: cut the response so the agent sees a failure, not a truncated success.
    res.destroy(err);
    return;
  }
  const body = err.toBody();
  res.writeHead(err.status, headersFor(err, body));
  res.end(body);
}

/** For CONNECT, where there is no ServerResponse: write a whole HTTP/1.1 response and close. */
export function writeRawError(socket: Duplex, err: KeygateError): void {
  if (socket.destroyed || !socket.writable) return;
  const body = err.toBody();
  let head = `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}\r\n`;
  for (const [name, value] of Object.entries(headersFor(err, body)))
    head += `${name}: ${value}\r\n`;
  socket.end(`${head}connection: close\r\n\r\n${body}`);
}
