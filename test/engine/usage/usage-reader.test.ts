import { describe, expect, it } from 'vitest';
import { JsonFieldScanner } from '../../../src/engine/usage/json-field-scanner.js';
import {
  bodyFormatFor,
  MAX_DOCUMENT_BYTES,
  ResponseUsageReader,
  usageApiFor,
  WebSocketUsageReader,
  type BodyFormat,
  type UsageApi,
} from '../../../src/engine/usage/usage-reader.js';
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

interface Case {
  name: string;
  api: UsageApi;
  format: BodyFormat;
  body: string;
  model: string;
  usage: { input: number; output: number; cached: number };
}

const CASES: Case[] = [
  {
    name: 'Anthropic JSON',
    api: 'anthropic-messages',
    format: 'json',
    body: ANTHROPIC_JSON,
    model: 'claude-sonnet-4-5-20250929',
    usage: ANTHROPIC_JSON_USAGE,
  },
  {
    name: 'Anthropic SSE',
    api: 'anthropic-messages',
    format: 'sse',
    body: ANTHROPIC_SSE,
    model: 'claude-sonnet-4-5-20250929',
    usage: ANTHROPIC_SSE_USAGE,
  },
  {
    name: 'OpenAI chat JSON',
    api: 'openai-chat',
    format: 'json',
    body: OPENAI_CHAT_JSON,
    model: 'gpt-4o-2024-08-06',
    usage: OPENAI_CHAT_JSON_USAGE,
  },
  {
    name: 'OpenAI chat SSE (CRLF)',
    api: 'openai-chat',
    format: 'sse',
    body: OPENAI_CHAT_SSE,
    model: 'gpt-4o-mini-2024-07-18',
    usage: OPENAI_CHAT_SSE_USAGE,
  },
  {
    name: 'OpenAI responses JSON',
    api: 'openai-responses',
    format: 'json',
    body: OPENAI_RESPONSES_JSON,
    model: 'gpt-4.1-2025-04-14',
    usage: OPENAI_RESPONSES_USAGE,
  },
  {
    name: 'OpenAI responses SSE',
    api: 'openai-responses',
    format: 'sse',
    body: OPENAI_RESPONSES_SSE,
    model: 'gpt-4.1-2025-04-14',
    usage: OPENAI_RESPONSES_USAGE,
  },
];

function read(c: Case, chunks: Buffer[]) {
  const reader = new ResponseUsageReader(c.api, c.format);
  for (const chunk of chunks) reader.write(chunk);
  return reader.end();
}

function expected(c: Case) {
  return {
    model: c.model,
    found: true,
    inputTokens: c.usage.input,
    outputTokens: c.usage.output,
    cachedTokens: c.usage.cached,
  };
}

describe('usage from recorded responses', () => {
  it.each(CASES)('$name, whole', (c) => {
    expect(read(c, [Buffer.from(c.body)])).toEqual(expected(c));
  });

  it.each(CASES)('$name, split in two at every byte offset', (c) => {
    const body = Buffer.from(c.body);
    for (let at = 0; at <= body.length; at++) {
      const got = read(c, [body.subarray(0, at), body.subarray(at)]);
      if (got.inputTokens !== c.usage.input || got.outputTokens !== c.usage.output)
        throw new Error(`${c.name} split at ${at}: ${JSON.stringify(got)}`);
      expect(got.model).toBe(c.model);
    }
  });

  it.each(CASES)('$name, one byte per chunk', (c) => {
    const body = Buffer.from(c.body);
    const chunks = [...body].map((byte) => Buffer.from([byte]));
    expect(read(c, chunks)).toEqual(expected(c));
  });

  it('counts Anthropic message_delta usage once, not added to message_start', () => {
    const got = read(CASES[1]!, [Buffer.from(ANTHROPIC_SSE)]);
    // message_start says 2 output tokens, the deltas 12 then 28 (cumulative): 28, not 42.
    expect(got.outputTokens).toBe(28);
  });

  it('is not fooled by usage-shaped text inside generated strings', () => {
    // The fixtures carry `"usage": {...}` in their text; the figures above are the real ones.
    expect(ANTHROPIC_JSON).toContain('input_tokens\\": 999');
    expect(read(CASES[0]!, [Buffer.from(ANTHROPIC_JSON)]).inputTokens).toBe(2160);
  });

  it('reports no usage for a chat stream without include_usage', () => {
    const withoutUsage = OPENAI_CHAT_SSE.split('\r\n\r\n')
      .filter((event) => !event.includes('"usage":{'))
      .join('\r\n\r\n');
    const got = read(CASES[3]!, [Buffer.from(withoutUsage)]);
    expect(got).toMatchObject({ found: false, inputTokens: 0, outputTokens: 0 });
    expect(got.model).toBe('gpt-4o-mini-2024-07-18');
  });

  it('drops an SSE event cut off before its blank line', () => {
    const cut = ANTHROPIC_SSE.slice(0, ANTHROPIC_SSE.lastIndexOf('event: message_delta') + 80);
    expect(read(CASES[1]!, [Buffer.from(cut)]).outputTokens).toBe(12);
  });

  it('stops reading a document past the cap, and keeps what other events said', () => {
    const huge = `event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"${'x'.repeat(MAX_DOCUMENT_BYTES)}"},"usage":{"output_tokens":999999}}\n\n`;
    const reader = new ResponseUsageReader('anthropic-messages', 'sse');
    const [start, rest] = [
      ANTHROPIC_SSE.slice(0, ANTHROPIC_SSE.indexOf('event: content_block_start')),
      ANTHROPIC_SSE.slice(ANTHROPIC_SSE.indexOf('event: content_block_start')),
    ];
    reader.write(Buffer.from(start));
    reader.write(Buffer.from(huge));
    reader.write(Buffer.from(rest));
    expect(reader.end()).toMatchObject({ inputTokens: 472, outputTokens: 28 });
  });

  it('reads the usage at the end of a JSON answer longer than the cap: an agent cannot push it out of reach', () => {
    // What `logprobs` with `top_logprobs: 20` makes of ~16k output tokens: about 10 MB.
    const logprob = {
      token: 'x',
      logprob: -0.1,
      top_logprobs: Array(20).fill({ token: 'y', logprob: -3.2 }),
    };
    const body = Buffer.from(
      JSON.stringify({
        model: 'gpt-4o',
        choices: [
          {
            message: { content: 'x'.repeat(9000) },
            logprobs: { content: Array(16_000).fill(logprob) },
          },
        ],
        usage: { prompt_tokens: 100_000, completion_tokens: 9000, total_tokens: 109_000 },
        system_fingerprint: 'fp_1',
      }),
    );
    expect(body.length).toBeGreaterThan(MAX_DOCUMENT_BYTES);
    const chunks: Buffer[] = [];
    for (let at = 0; at < body.length; at += 60_000) chunks.push(body.subarray(at, at + 60_000));
    const usage = read({ ...CASES[2]!, body: '' }, chunks);
    expect(usage).toMatchObject({
      model: 'gpt-4o',
      found: true,
      inputTokens: 100_000,
      outputTokens: 9000,
    });
    // In one write too.
    expect(read({ ...CASES[2]!, body: '' }, [body]).inputTokens).toBe(100_000);
  });

  it('past the cap, takes no "usage" that generated text spells out', () => {
    const padding = 'x'.repeat(MAX_DOCUMENT_BYTES);
    const only = JSON.stringify({
      model: 'm',
      choices: [{ message: { content: `${padding}"usage":{"prompt_tokens":5}` } }],
    });
    expect(read({ ...CASES[2]!, body: '' }, [Buffer.from(only)])).toMatchObject({
      found: false,
      inputTokens: 0,
    });
    const both = JSON.stringify({
      model: 'm',
      choices: [{ message: { content: padding } }],
      usage: { prompt_tokens: 7, completion_tokens: 3 },
      note: `"usage":{"prompt_tokens":999}`,
    });
    // The last "usage" in the tail is the note's, its quotes escaped: the real key before it is read.
    expect(read({ ...CASES[2]!, body: '' }, [Buffer.from(both)])).toMatchObject({
      inputTokens: 7,
      outputTokens: 3,
    });
  });

  it('reads nothing from a body that is not JSON, and does not throw', () => {
    const reader = new ResponseUsageReader('openai-chat', 'json');
    reader.write(Buffer.from('<html>{"usage":{"prompt_tokens":5}}</html>'));
    expect(reader.end()).toMatchObject({ found: false, inputTokens: 0 });
  });
});

describe('usage over the Responses WebSocket', () => {
  const messages = OPENAI_RESPONSES_EVENTS.map((event) => Buffer.from(JSON.stringify(event)));

  it('gives one usage per completed answer', () => {
    const reader = new WebSocketUsageReader();
    const results = [...messages, ...messages].map((m) => reader.message(m)).filter(Boolean);
    expect(results).toEqual([
      {
        model: 'gpt-4.1-2025-04-14',
        found: true,
        inputTokens: 36,
        outputTokens: 87,
        cachedTokens: 0,
      },
      {
        model: 'gpt-4.1-2025-04-14',
        found: true,
        inputTokens: 36,
        outputTokens: 87,
        cachedTokens: 0,
      },
    ]);
  });

  it('ignores a message that is not JSON', () => {
    const reader = new WebSocketUsageReader();
    expect(reader.message(Buffer.from('not json {'))).toBeUndefined();
    expect(reader.message(messages.at(-1)!)).toMatchObject({ inputTokens: 36 });
  });
});

describe('which answers are read', () => {
  it.each([
    ['POST', '/v1/messages', 'anthropic-messages'],
    ['POST', '/v1/chat/completions', 'openai-chat'],
    ['POST', '/openai/v1/chat/completions', 'openai-chat'],
    ['POST', '/v1/responses', 'openai-responses'],
    ['GET', '/v1/responses', 'openai-responses'],
    ['POST', '/v1/messages/count_tokens', undefined],
    ['GET', '/v1/models', undefined],
    ['POST', '/v1/embeddings', undefined],
  ])('%s %s → %s', (method, path, api) => {
    expect(usageApiFor(method, path)).toBe(api);
  });

  it.each([
    ['application/json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['text/event-stream; charset=utf-8', 'sse'],
    ['text/html', undefined],
    [undefined, undefined],
  ])('%s → %s', (type, format) => {
    expect(bodyFormatFor(type)).toBe(format);
  });
});

describe('JsonFieldScanner', () => {
  it('keeps only the wanted paths, in nested objects and arrays', () => {
    const scanner = new JsonFieldScanner((path) => path.startsWith('a.'), ['a']);
    scanner.write(
      Buffer.from('{"x":[1,{"a":{"b":2}}],"a":{"b":-1.5e2,"c":"s\\"t","d":[true,null]}}'),
    );
    expect(Object.fromEntries(scanner.values)).toEqual({ 'a.b': -150, 'a.c': 's"t' });
    expect(scanner.failed).toBe(false);
  });

  it('fails, without throwing, on broken JSON', () => {
    const scanner = new JsonFieldScanner(() => true, []);
    scanner.write(Buffer.from('{"a" 1}'));
    expect(scanner.failed).toBe(true);
  });
});

describe('skipped SSE events', () => {
  it('content deltas and pings are not read, even when they look like usage', () => {
    const reader = new ResponseUsageReader('anthropic-messages', 'sse');
    const fake = '{"type":"content_block_delta","usage":{"output_tokens":5000}}';
    reader.write(
      Buffer.from(
        'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":7}}\n\n' +
          `event: content_block_delta\ndata: ${fake}\n\nevent: ping\ndata: ${fake}\n\n` +
          `event: response.output_text.delta\ndata: ${fake}\n\n`,
      ),
    );
    expect(reader.end()).toMatchObject({ found: true, outputTokens: 7 });
  });
});
