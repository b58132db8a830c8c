/**
 * Raw bytes on a TCP port, for tests that send what no HTTP client would: garbage, half a
 * request, a TLS ClientHello on a plain port, a trickle of header bytes. Responses are parsed
 * just enough to check Keygate's named errors (status, `X-Keygate-Error`, JSON body).
 */
import net from 'node:net';
import tls from 'node:tls';
import { parseAgentError, type AgentError } from './agent-error.js';

export interface RawResponse {
  readonly status: number;
  /** Lower-cased names; every value of a repeated header, in order. */
  readonly headers: Record<string, string[]>;
  readonly body: string;
}

export interface RawResult {
  /** Everything the server sent, latin1. */
  readonly raw: string;
  /** The server closed (or reset) the connection before the timeout. */
  readonly closed: boolean;
  /** The first response in `raw`, when its head arrived. */
  readonly response: RawResponse | undefined;
}

/** Decodes a chunked body; `complete` once the last (zero-size) chunk arrived. */
function dechunk(text: string): { body: string; complete: boolean } {
  let body = '';
  let at = 0;
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at);
    if (lineEnd < 0) return { body, complete: false };
    const size = parseInt(text.slice(at, lineEnd).split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) return { body, complete: false };
    if (size === 0) return { body, complete: text.indexOf('\r\n', lineEnd + 2) >= 0 };
    const start = lineEnd + 2;
    if (text.length < start + size + 2) return { body: body + text.slice(start), complete: false };
    body += text.slice(start, start + size);
    at = start + size + 2;
  }
}

/**
 * Parses the first HTTP/1.x response in `raw` (content-length, chunked or close-delimited
 * bodies). `complete` says whether the whole body is in.
 */
export function parseResponse(raw: string): (RawResponse & { complete: boolean }) | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  if (!Number.isInteger(status)) return undefined;
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    (headers[name] ??= []).push(line.slice(colon + 1).trim());
  }
  const rest = raw.slice(end + 4);
  const length = headers['content-length']?.[0];
  if (length !== undefined) {
    return {
      status,
      headers,
      body: rest.slice(0, Number(length)),
      complete: rest.length >= Number(length),
    };
  }
  if (headers['transfer-encoding']?.some((v) => /chunked/i.test(v))) {
    return { status, headers, ...dechunk(rest) };
  }
  // A CONNECT's 200 and 1xx/204/304 have no body; anything else is delimited by the close.
  const bodiless =
    status < 200 || status === 204 || status === 304 || /Connection Established/i.test(statusLine);
  return { status, headers, body: rest, complete: bodiless };
}

function complete(raw: string): boolean {
  return parseResponse(raw)?.complete === true;
}

export interface RawOptions {
  /** Half-close after writing (the client stops sending, as after a half-sent request). */
  end?: boolean;
  /** Give up after this long and return what arrived (default 5 s). */
  timeoutMs?: number;
  /** Write each piece of `bytes` this many ms apart (a slow client). */
  gapMs?: number;
}

/**
 * Connects to 127.0.0.1:port, writes `bytes` (one piece or several), and resolves when the
 * server closes, when one whole content-length response arrived, or at the timeout.
 */
export function rawExchange(
  port: number,
  bytes: string | Buffer | Array<string | Buffer>,
  options: RawOptions = {},
): Promise<RawResult> {
  const pieces = Array.isArray(bytes) ? bytes : [bytes];
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      timers.forEach(clearTimeout);
      socket.destroy();
      resolve({ raw, closed, response: parseResponse(raw) });
    };
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1');
      if (complete(raw)) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      pieces.forEach((piece, i) => {
        const write = () => {
          if (socket.destroyed) return;
          socket.write(piece);
          if (i === pieces.length - 1 && options.end) socket.end();
        };
        if (i === 0 || !options.gapMs) write();
        else timers.push(setTimeout(write, i * options.gapMs));
      });
    });
    timers.push(setTimeout(() => finish(false), options.timeoutMs ?? 5_000));
  });
}

/** `Basic base64(name:token)`. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A CONNECT request head; `auth` null sends no Proxy-Authorization at all. */
export function connectHead(target: string, auth: string | null, extra = ''): string {
  return (
    `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n` +
    `${auth === null ? '' : `Proxy-Authorization: ${auth}\r\n`}${extra}\r\n`
  );
}

/** The JSON body of a Keygate error, or undefined when the body is something else. */
export function keygateBody(response: RawResponse | undefined): AgentError | undefined {
  return parseAgentError(response?.body);
}

/** The first flight a real TLS client sends (a ClientHello for `servername`), captured. */
export function captureClientHello(servername: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.once('data', (hello: Buffer) => {
        socket.destroy();
        server.close();
        resolve(hello);
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      const client = tls.connect({ port, host: '127.0.0.1', servername });
      client.on('error', () => undefined);
    });
    server.on('error', reject);
  });
}

/**
 * Writes one request on an open socket (raw or TLS) and resolves with the first response, at
 * the timeout with what arrived, or when the socket closes.
 */
export function requestOn(
  socket: net.Socket | tls.TLSSocket,
  bytes: string | Array<string | Buffer>,
  options: { timeoutMs?: number; gapMs?: number } = {},
): Promise<RawResult> {
  const pieces = Array.isArray(bytes) ? bytes : [bytes];
  return new Promise((resolve) => {
    let raw = '';
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      timers.forEach(clearTimeout);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve({ raw, closed, response: parseResponse(raw) });
    };
    const onData = (chunk: Buffer) => {
      raw += chunk.toString('latin1');
      if (complete(raw)) finish(false);
    };
    const onClose = () => finish(true);
    socket.on('data', onData);
    socket.once('close', onClose);
    pieces.forEach((piece, i) => {
      const write = () => {
        if (!socket.destroyed) socket.write(piece);
      };
      if (i === 0 || !options.gapMs) write();
      else timers.push(setTimeout(write, i * options.gapMs));
    });
    timers.push(setTimeout(() => finish(false), options.timeoutMs ?? 5_000));
  });
}
