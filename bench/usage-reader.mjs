// Micro-benchmark of the usage reader (issue 13): MB/s for a large JSON body and for dense SSE
// streams (Anthropic content deltas, OpenAI chat chunks), fed in 16 KiB pieces as the relay
// would (the JSON stays under MAX_DOCUMENT_BYTES). Not a test: it prints medians. Run after `npm run build`: node bench/usage-reader.mjs
import { ResponseUsageReader } from '../dist/engine/usage/usage-reader.js';

const TARGET = 16 * 1024 * 1024;
const PIECE = 16 * 1024;
const RUNS = 7;

function repeat(head, event, tail) {
  const parts = [head];
  let size = head.length;
  for (let i = 0; size < TARGET; i++) {
    const e = event(i);
    parts.push(e);
    size += e.length;
  }
  parts.push(tail);
  return Buffer.from(parts.join(''));
}

const anthropicSse = repeat(
  'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":10,"output_tokens":1}}}\n\n',
  (i) =>
    `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word ${i} and some more text \\"quoted\\" here"}}\n\n`,
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":99}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
);
const chatSse = repeat(
  '',
  (i) =>
    `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"tok ${i}"},"finish_reason":null}],"usage":null}\n\n`,
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2}}\n\ndata: [DONE]\n\n',
);
const json = Buffer.from(
  JSON.stringify({
    model: 'claude-x',
    content: Array.from({ length: TARGET / 128 }, (_, i) => ({
      type: 'text',
      text: `line ${i} of a long answer`,
    })),
    usage: { input_tokens: 1, output_tokens: 2 },
  }),
);

function mbps(api, format, body) {
  const times = [];
  for (let run = 0; run < RUNS; run++) {
    const reader = new ResponseUsageReader(api, format);
    const start = process.hrtime.bigint();
    for (let at = 0; at < body.length; at += PIECE) reader.write(body.subarray(at, at + PIECE));
    const usage = reader.end();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (!usage.found) throw new Error(`${api} ${format}: usage not found`);
    times.push(body.length / 1024 / 1024 / (ms / 1000));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(RUNS / 2)].toFixed(1);
}

console.log(`JSON              ${mbps('anthropic-messages', 'json', json)} MB/s`);
console.log(`SSE (Anthropic)   ${mbps('anthropic-messages', 'sse', anthropicSse)} MB/s`);
console.log(`SSE (OpenAI chat) ${mbps('openai-chat', 'sse', chatSse)} MB/s`);
