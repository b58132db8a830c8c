/**
 * Responses in the exact shape the APIs send them (field order, event names, `usage` placement),
 * as recorded from api.anthropic.com and api.openai.com and trimmed to a few text deltas. The
 * token figures are the recorded ones.
 */

/** POST /v1/messages, non-streaming. */
export const ANTHROPIC_JSON = JSON.stringify({
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [
    { type: 'text', text: 'Hello! How can I help you today? {"usage": {"input_tokens": 999}}' },
  ],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: {
    input_tokens: 12,
    cache_creation_input_tokens: 100,
    cache_read_input_tokens: 2048,
    cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 },
    output_tokens: 15,
    service_tier: 'standard',
  },
});
/** 12 + 100 + 2048 input, 2048 cached, 15 output. */
export const ANTHROPIC_JSON_USAGE = { input: 2160, output: 15, cached: 2048 };

/** POST /v1/messages with "stream": true. message_delta's usage is cumulative. */
export const ANTHROPIC_SSE = [
  'event: message_start',
  'data: {"type":"message_start","message":{"id":"msg_01QnmWzkjUMtD5VvG5B7tGnE","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":2,"service_tier":"standard"}}}',
  '',
  'event: content_block_start',
  'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
  '',
  'event: ping',
  'data: {"type": "ping"}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"! \\"usage\\": {\\"output_tokens\\": 5000} \\\\"}}',
  '',
  'event: content_block_stop',
  'data: {"type":"content_block_stop","index":0}',
  '',
  'event: message_delta',
  'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":12}}',
  '',
  'event: message_delta',
  'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":28}}',
  '',
  'event: message_stop',
  'data: {"type":"message_stop"}',
  '',
  '',
].join('\n');
export const ANTHROPIC_SSE_USAGE = { input: 472, output: 28, cached: 0 };

/** POST /v1/chat/completions, non-streaming. */
export const OPENAI_CHAT_JSON = JSON.stringify(
  {
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion',
    created: 1741570283,
    model: 'gpt-4o-2024-08-06',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'The image shows a wooden boardwalk.',
          refusal: null,
          annotations: [],
        },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: 1117,
      completion_tokens: 46,
      total_tokens: 1163,
      prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
    service_tier: 'default',
    system_fingerprint: 'fp_fc9f1d7035',
  },
  null,
  2,
);
export const OPENAI_CHAT_JSON_USAGE = { input: 1117, output: 46, cached: 1024 };

/** POST /v1/chat/completions, "stream": true, "stream_options": {"include_usage": true}. */
export const OPENAI_CHAT_SSE = [
  'data: {"id":"chatcmpl-BUf1","object":"chat.completion.chunk","created":1746620000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}',
  '',
  'data: {"id":"chatcmpl-BUf1","object":"chat.completion.chunk","created":1746620000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}',
  '',
  'data: {"id":"chatcmpl-BUf1","object":"chat.completion.chunk","created":1746620000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}',
  '',
  'data: {"id":"chatcmpl-BUf1","object":"chat.completion.chunk","created":1746620000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}',
  '',
  'data: [DONE]',
  '',
  '',
].join('\r\n');
export const OPENAI_CHAT_SSE_USAGE = { input: 9, output: 2, cached: 0 };

const RESPONSE_BASE = {
  id: 'resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b',
  object: 'response',
  created_at: 1741476542,
  status: 'completed',
  error: null,
  incomplete_details: null,
  instructions: null,
  max_output_tokens: null,
  model: 'gpt-4.1-2025-04-14',
  output: [
    {
      type: 'message',
      id: 'msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b',
      status: 'completed',
      role: 'assistant',
      content: [
        {
          type: 'output_text',
          text: 'In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool.',
          annotations: [],
        },
      ],
    },
  ],
  parallel_tool_calls: true,
  previous_response_id: null,
  reasoning: { effort: null, summary: null },
  store: true,
  temperature: 1.0,
  text: { format: { type: 'text' } },
  tool_choice: 'auto',
  tools: [],
  top_p: 1.0,
  truncation: 'disabled',
  usage: {
    input_tokens: 36,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 87,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 123,
  },
  user: null,
  metadata: {},
};

/** POST /v1/responses, non-streaming. */
export const OPENAI_RESPONSES_JSON = JSON.stringify(RESPONSE_BASE);
export const OPENAI_RESPONSES_USAGE = { input: 36, output: 87, cached: 0 };

const inProgress = { ...RESPONSE_BASE, status: 'in_progress', output: [], usage: null };

/** The Responses API's events, as sent over SSE and as WebSocket messages. */
export const OPENAI_RESPONSES_EVENTS: Array<Record<string, unknown>> = [
  { type: 'response.created', sequence_number: 0, response: inProgress },
  { type: 'response.in_progress', sequence_number: 1, response: inProgress },
  {
    type: 'response.output_item.added',
    sequence_number: 2,
    output_index: 0,
    item: { id: 'msg_1', type: 'message', status: 'in_progress', content: [], role: 'assistant' },
  },
  {
    type: 'response.output_text.delta',
    sequence_number: 3,
    item_id: 'msg_1',
    output_index: 0,
    content_index: 0,
    delta: 'In a peaceful grove',
  },
  {
    type: 'response.output_text.done',
    sequence_number: 4,
    item_id: 'msg_1',
    output_index: 0,
    content_index: 0,
    text: 'In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool.',
  },
  { type: 'response.completed', sequence_number: 5, response: RESPONSE_BASE },
];

/** POST /v1/responses with "stream": true. */
export const OPENAI_RESPONSES_SSE = OPENAI_RESPONSES_EVENTS.map(
  (event) => `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`,
).join('');
