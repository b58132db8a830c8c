/**
 * A real HTTPS (and WebSocket) server posing as an API host, with a certificate from the per-run
 * test CA, that answers each request with whatever the test's `answer` function says: for real
 * agent CLIs (Claude Code, Codex), which call several endpoints and expect the real API's shapes.
 * It records every request and WebSocket message, so a test can check what reached the upstream.
 */
import https from 'node:https';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TestPki } from './test-pki.js';

export interface ScriptedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface ScriptedAnswer {
  status?: number;
  headers?: Record<string, string>;
  body: string;
}

export interface ScriptedUpstream {
  readonly port: number;
  /** HTTP requests, and WebSocket upgrades as method "WS". */
  readonly received: ScriptedRequest[];
  /** Text messages the clients sent over WebSocket. */
  readonly wsMessages: string[];
  close(): Promise<void>;
}

export interface ScriptedUpstreamOptions {
  host: string;
  pki: TestPki;
  answer(request: ScriptedRequest): ScriptedAnswer;
  /** Called for each WebSocket text message; its results are sent back as text messages. */
  onWsMessage?(message: string, upgrade: ScriptedRequest): string[];
}

export async function startScriptedUpstream(
  options: ScriptedUpstreamOptions,
): Promise<ScriptedUpstream> {
  const received: ScriptedRequest[] = [];
  const wsMessages: string[] = [];
  const { certPem, keyPem } = await options.pki.issue([options.host]);
  const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: ScriptedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(request);
      const answer = options.answer(request);
      res.writeHead(answer.status ?? 200, {
        'content-type': 'application/json',
        ...answer.headers,
        'content-length': Buffer.byteLength(answer.body),
      });
      res.end(answer.body);
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket: WebSocket, req: http.IncomingMessage) => {
    const upgrade: ScriptedRequest = {
      method: 'WS',
      path: req.url ?? '',
      headers: req.headers,
      body: '',
    };
    received.push(upgrade);
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      wsMessages.push(text);
      for (const reply of options.onWsMessage?.(text, upgrade) ?? []) socket.send(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    wsMessages,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
