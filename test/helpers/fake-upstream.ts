/**
 * A real HTTPS server posing as real API hosts (api.openai.com, api.anthropic.com …) with a
 * certificate from a per-run test CA. It records every request it receives, so tests can check
 * what actually reached the "upstream": the injected key, never the placeholder or agent token.
 */
import https from 'node:https';
import zlib from 'node:zlib';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { TestPki } from './test-pki.js';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The client port of the connection it arrived on: equal ports mean a reused connection. */
  remotePort: number;
}

export interface FakeUpstream {
  readonly port: number;
  readonly received: ReceivedRequest[];
  /** For SSE tests: called when the server writes each chunk, with the time it wrote it. */
  readonly sseWrites: number[];
  close(): Promise<void>;
}

export interface FakeUpstreamOptions {
  hosts: string[];
  pki: TestPki;
  expired?: boolean;
  plain?: boolean;
}

function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upstream: { received: ReceivedRequest[]; sseWrites: number[] },
): void {
  if (req.url?.startsWith('/stall-upload')) {
    // Never reads the body: the proxy must stop pulling the agent's upload (backpressure).
    req.pause();
    upstream.received.push({
      method: req.method ?? '',
      url: req.url,
      headers: req.headers,
      body: '',
      remotePort: req.socket.remotePort ?? 0,
    });
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    upstream.received.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body,
      remotePort: req.socket.remotePort ?? 0,
    });
    const url = new URL(req.url ?? '/', 'https://upstream.test');
    if (url.pathname === '/sse') {
      const count = Number(url.searchParams.get('n') ?? 3);
      const gap = Number(url.searchParams.get('gap') ?? 100);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let sent = 0;
      const tick = () => {
        upstream.sseWrites.push(performance.now());
        res.write(`data: chunk-${sent}\n\n`);
        sent += 1;
        if (sent < count) setTimeout(tick, gap);
        else res.end();
      };
      tick();
      return;
    }
    if (url.pathname === '/big') {
      const size = Number(url.searchParams.get('bytes') ?? 1_000_000);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      const block = Buffer.alloc(64 * 1024, 97);
      let left = size;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, block.length);
          left -= n;
          if (!res.write(n === block.length ? block : block.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/leak') {
      // An upstream that echoes the credential it received, as some error pages do: in a header,
      // and in the body, split into small chunks and optionally compressed.
      const secret = String(req.headers.authorization ?? req.headers['x-api-key'] ?? '');
      // `pad=N` puts N bytes before the echo: a body too large to be scrubbed whole.
      const pad = 'x'.repeat(Number(url.searchParams.get('pad') ?? 0));
      const body = Buffer.from(
        `{${pad ? `"pad":"${pad}",` : ''}"error":"invalid key ${secret}","echo":"${secret}"}`,
      );
      // `enc` is a Content-Encoding list, applied in order ("gzip, br"); a coding this fake
      // cannot produce (zstd) is only named, as an upstream ignoring Accept-Encoding would.
      const encoding = url.searchParams.get('enc') ?? '';
      const encoders: Record<string, (b: Buffer) => Buffer> = {
        gzip: (b) => zlib.gzipSync(b),
        br: (b) => zlib.brotliCompressSync(b),
        deflate: (b) => zlib.deflateSync(b),
      };
      const encoded = encoding
        .split(',')
        .map((coding) => coding.trim())
        .reduce<Buffer>((bytes, coding) => encoders[coding]?.(bytes) ?? bytes, body);
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-echo-key': secret,
        'content-length': encoded.length,
        ...(encoding ? { 'content-encoding': encoding } : {}),
      });
      const step = Number(url.searchParams.get('chunk') ?? 7);
      let offset = 0;
      const next = () => {
        if (offset >= encoded.length) {
          res.end();
          return;
        }
        res.write(encoded.subarray(offset, offset + step));
        offset += step;
        setImmediate(next);
      };
      next();
      return;
    }
    if (url.pathname === '/status') {
      res.writeHead(Number(url.searchParams.get('code') ?? 200), { 'content-type': 'text/plain' });
      res.end('status');
      return;
    }
    // Default: echo what arrived, as the OpenAI/Anthropic SDKs expect JSON back.
    const echo = Buffer.from(
      JSON.stringify({
        id: 'fake-1',
        object: 'echo',
        method: req.method,
        url: req.url,
        authorization: req.headers.authorization ?? null,
        'x-api-key': req.headers['x-api-key'] ?? null,
        // Enough shape for the SDKs' response parsing.
        choices: [
          { index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' },
        ],
        type: 'message',
        role: 'assistant',
        content: [{ type: 'text', text: 'hi' }],
        model: 'fake',
        stop_reason: 'end_turn',
        usage: {
          input_tokens: 1,
          output_tokens: 1,
          prompt_tokens: 1,
          completion_tokens: 1,
          total_tokens: 2,
        },
      }),
    );
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': echo.length,
      'x-upstream': 'fake',
    });
    res.end(echo);
  });
}

export async function startFakeUpstream(options: FakeUpstreamOptions): Promise<FakeUpstream> {
  const state = { received: [] as ReceivedRequest[], sseWrites: [] as number[] };
  let server: http.Server;
  if (options.plain) {
    server = http.createServer((req, res) => handle(req, res, state));
  } else {
    const { certPem, keyPem } = await options.pki.issue(options.hosts, {
      expired: options.expired === true,
    });
    server = https.createServer({ cert: certPem, key: keyPem }, (req, res) =>
      handle(req, res, state),
    );
  }
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    state.received.push({
      method: 'WS',
      url: req.url ?? '',
      headers: req.headers,
      body: '',
      remotePort: req.socket.remotePort ?? 0,
    });
    socket.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'leak')
        socket.send(`your key is ${String(req.headers.authorization ?? '')}`);
      else socket.send(isBinary ? data : `echo:${data.toString()}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: state.received,
    sseWrites: state.sseWrites,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
