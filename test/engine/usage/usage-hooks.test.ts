import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { AdmittedRequest } from '../../../src/engine/proxy/request-hooks.js';
import { UsageHooks } from '../../../src/engine/usage/usage-hooks.js';
import { localDay, UsageStore } from '../../../src/engine/usage/usage-store.js';
import {
  ANTHROPIC_JSON,
  ANTHROPIC_JSON_USAGE,
  ANTHROPIC_SSE,
  ANTHROPIC_SSE_USAGE,
  OPENAI_CHAT_JSON,
  OPENAI_CHAT_JSON_USAGE,
  OPENAI_CHAT_SSE,
  OPENAI_CHAT_SSE_USAGE,
  OPENAI_RESPONSES_EVENTS,
  OPENAI_RESPONSES_JSON,
  OPENAI_RESPONSES_SSE,
  OPENAI_RESPONSES_USAGE,
} from './recorded-responses.js';

const homes: string[] = [];
afterEach(() => {
  for (const dir of homes.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function store(): UsageStore {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-usage-hooks-'));
  homes.push(dir);
  return new UsageStore({ home: dir, flushDelayMs: 60_000 });
}

function request(path: string, method = 'POST'): AdmittedRequest {
  return {
    agent: 'claude',
    mapping: 'api.example.com',
    preset: undefined,
    host: 'api.example.com',
    port: 443,
    method,
    path,
    shape: 'intercepted',
  };
}

/** Feeds `body` through the hooks in pieces of `size` bytes and waits for the count. */
async function relay(
  usage: UsageStore,
  path: string,
  contentType: string,
  body: Buffer,
  options: { size?: number; encoding?: string; status?: number } = {},
): Promise<void> {
  const hooks = new UsageHooks(usage);
  const headers: Record<string, string> = { 'content-type': contentType };
  if (options.encoding) headers['content-encoding'] = options.encoding;
  const observer = hooks.onResponse(request(path), options.status ?? 200, headers);
  if (!observer) return;
  const counted = new Promise<void>((resolve) => {
    const off = usage.onAdd(() => {
      off();
      resolve();
    });
  });
  const size = options.size ?? body.length;
  for (let at = 0; at < body.length; at += size) observer.chunk(body.subarray(at, at + size));
  observer.end(true);
  await counted;
}

const CASES = [
  [
    'Anthropic JSON',
    '/v1/messages',
    'application/json',
    ANTHROPIC_JSON,
    ANTHROPIC_JSON_USAGE,
    'claude-sonnet-4-5-20250929',
  ],
  [
    'Anthropic SSE',
    '/v1/messages',
    'text/event-stream; charset=utf-8',
    ANTHROPIC_SSE,
    ANTHROPIC_SSE_USAGE,
    'claude-sonnet-4-5-20250929',
  ],
  [
    'OpenAI chat JSON',
    '/v1/chat/completions',
    'application/json',
    OPENAI_CHAT_JSON,
    OPENAI_CHAT_JSON_USAGE,
    'gpt-4o-2024-08-06',
  ],
  [
    'OpenAI chat SSE',
    '/v1/chat/completions',
    'text/event-stream',
    OPENAI_CHAT_SSE,
    OPENAI_CHAT_SSE_USAGE,
    'gpt-4o-mini-2024-07-18',
  ],
  [
    'OpenAI responses JSON',
    '/v1/responses',
    'application/json',
    OPENAI_RESPONSES_JSON,
    OPENAI_RESPONSES_USAGE,
    undefined,
  ],
  [
    'OpenAI responses SSE',
    '/v1/responses',
    'text/event-stream',
    OPENAI_RESPONSES_SSE,
    OPENAI_RESPONSES_USAGE,
    undefined,
  ],
] as const;

describe('UsageHooks', () => {
  for (const [name, path, type, body, expected, model] of CASES) {
    it(`${name}: counted once, whatever the TCP split`, async () => {
      const bytes = Buffer.from(body);
      for (const size of [bytes.length, 1, 7, 64]) {
        const usage = store();
        await relay(usage, path, type, bytes, { size });
        const rows = usage.rows();
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({
          agent: 'claude',
          mapping: 'api.example.com',
          requests: 1,
          inputTokens: expected.input,
          outputTokens: expected.output,
          cachedTokens: expected.cached,
          day: localDay(Date.now()),
        });
        if (model) expect(rows[0]!.model).toBe(model);
        else expect(rows[0]!.model).not.toBe('unknown');
        await usage.close();
      }
    });
  }

  it('Anthropic SSE: the cumulative message_delta usage is not summed', async () => {
    const usage = store();
    await relay(usage, '/v1/messages', 'text/event-stream', Buffer.from(ANTHROPIC_SSE));
    // 12 then 28 cumulative: 28, never 40 (nor 2 + 28 from message_start), and the "usage"
    // inside the content delta's text is not read.
    expect(usage.rows()[0]!.outputTokens).toBe(28);
    await usage.close();
  });

  it('reads through gzip and br split at every byte', async () => {
    for (const [encoding, encode] of [
      ['gzip', zlib.gzipSync],
      ['br', zlib.brotliCompressSync],
    ] as const) {
      const usage = store();
      await relay(usage, '/v1/messages', 'text/event-stream', encode(Buffer.from(ANTHROPIC_SSE)), {
        size: 1,
        encoding,
      });
      expect(usage.rows()[0]).toMatchObject({ inputTokens: 472, outputTokens: 28 });
      await usage.close();
    }
  });

  it('a garbled encoded body still counts the request, with no tokens', async () => {
    const usage = store();
    await relay(usage, '/v1/messages', 'application/json', Buffer.from('not gzip'), {
      encoding: 'gzip',
    });
    expect(usage.rows()[0]).toMatchObject({ requests: 1, inputTokens: 0, model: 'unknown' });
    await usage.close();
  });

  it('does not observe errors, other paths, GETs or other content types', () => {
    const hooks = new UsageHooks(store());
    const json = { 'content-type': 'application/json' };
    expect(hooks.onResponse(request('/v1/messages'), 400, json)).toBeUndefined();
    expect(hooks.onResponse(request('/v1/models', 'GET'), 200, json)).toBeUndefined();
    expect(hooks.onResponse(request('/v1/messages', 'GET'), 200, json)).toBeUndefined();
    expect(hooks.onResponse(request('/v2/unknown'), 200, json)).toBeUndefined();
    expect(
      hooks.onResponse(request('/v1/messages'), 200, { 'content-type': 'text/html' }),
    ).toBeUndefined();
  });

  it('Responses WebSocket: each completed response is one request', () => {
    const usage = store();
    const hooks = new UsageHooks(usage);
    const observer = hooks.onWebSocket({ ...request('/v1/responses', 'GET'), shape: 'websocket' });
    expect(observer).toBeDefined();
    for (let turn = 0; turn < 2; turn++)
      for (const event of OPENAI_RESPONSES_EVENTS)
        observer!.message(Buffer.from(JSON.stringify(event)), true);
    observer!.message(Buffer.from([0, 1, 2]), false);
    observer!.close();
    expect(usage.rows()[0]).toMatchObject({
      requests: 2,
      inputTokens: 2 * OPENAI_RESPONSES_USAGE.input,
      outputTokens: 2 * OPENAI_RESPONSES_USAGE.output,
    });
    expect(hooks.onWebSocket({ ...request('/v1/realtime', 'GET'), shape: 'websocket' })).toBe(
      undefined,
    );
  });
});
