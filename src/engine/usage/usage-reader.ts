/**
 * What an API answer says it used: the `usage` numbers and the `model` of Anthropic's Messages
 * API and OpenAI's Chat Completions and Responses APIs, read from a JSON body, an SSE stream or
 * Responses WebSocket messages, through the bounded JsonFieldScanner (no body is ever held).
 *
 * Normalised so the two vendors add up: `inputTokens` is every prompt token the upstream
 * processed, cached or not (Anthropic reports cache reads and writes apart from `input_tokens`;
 * OpenAI counts them inside `prompt_tokens`/`input_tokens`), `cachedTokens` the part read from a
 * prompt cache. Within one answer a later figure replaces an earlier one: Anthropic's
 * `message_delta` usage is cumulative (docs.anthropic.com, "Streaming Messages"), so it is
 * counted once, not added to `message_start`'s.
 */
import { JsonFieldScanner } from './json-field-scanner.js';
import { SseFramer } from './sse-framer.js';

export type UsageApi = 'anthropic-messages' | 'openai-chat' | 'openai-responses';

export interface ResponseUsage {
  model: string | undefined;
  /** False when the answer carried no usage figures (an error, a cut stream, no include_usage). */
  found: boolean;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
}

/** Bytes of one JSON document (a body, an SSE event, a WebSocket message) read at most. */
export const MAX_DOCUMENT_BYTES = 8 * 1024 * 1024;
/**
 * Past the cap, the last bytes of the document are kept: a JSON answer's top-level `usage` sits
 * at its end (OpenAI, Anthropic), where an agent could otherwise push it out of reach by asking
 * for a huge answer (`logprobs`, a large `n`) and so hide its tokens from its budget.
 */
const TAIL_BYTES = 64 * 1024;
const USAGE_KEY = Buffer.from('"usage"');

/** Which usage-bearing API a request is, by its path; a prefix (a gateway's) is allowed. */
export function usageApiFor(method: string, path: string): UsageApi | undefined {
  if (method !== 'POST' && method !== 'GET') return undefined;
  if (method === 'POST' && path.endsWith('/v1/messages')) return 'anthropic-messages';
  if (method === 'POST' && path.endsWith('/chat/completions')) return 'openai-chat';
  // GET: the Responses WebSocket upgrade.
  if (path.endsWith('/v1/responses')) return 'openai-responses';
  return undefined;
}

const MODEL_PATHS = new Set(['model', 'message.model', 'response.model']);
const USAGE_PATH = /^(?:(?:message|response)\.)?usage\.[a-z_]+(?:\.[a-z_]+)?$/;

function wanted(path: string): boolean {
  return path === 'type' || MODEL_PATHS.has(path) || USAGE_PATH.test(path);
}

/** Usage figures and model of one answer, merged event by event. */
class Accumulator {
  model: string | undefined;
  readonly figures = new Map<string, number>();

  take(scanner: JsonFieldScanner): void {
    for (const [path, value] of scanner.values) {
      if (MODEL_PATHS.has(path)) {
        if (typeof value === 'string' && value !== '') this.model = value;
        continue;
      }
      if (typeof value !== 'number' || value < 0) continue;
      const dot = path.indexOf('usage.');
      if (dot >= 0) this.figures.set(path.slice(dot + 'usage.'.length), value);
    }
  }

  result(api: UsageApi): ResponseUsage {
    const f = (name: string) => this.figures.get(name) ?? 0;
    const found = this.figures.size > 0;
    const model = this.model;
    switch (api) {
      case 'anthropic-messages':
        return {
          model,
          found,
          inputTokens:
            f('input_tokens') + f('cache_creation_input_tokens') + f('cache_read_input_tokens'),
          outputTokens: f('output_tokens'),
          cachedTokens: f('cache_read_input_tokens'),
        };
      case 'openai-chat':
        return {
          model,
          found,
          inputTokens: f('prompt_tokens'),
          outputTokens: f('completion_tokens'),
          cachedTokens: f('prompt_tokens_details.cached_tokens'),
        };
      case 'openai-responses':
        return {
          model,
          found,
          inputTokens: f('input_tokens'),
          outputTokens: f('output_tokens'),
          cachedTokens: f('input_tokens_details.cached_tokens'),
        };
    }
  }
}

/**
 * One document at a time through the scanner, at most MAX_DOCUMENT_BYTES of it; of a longer one,
 * also its top-level `usage`, found in its last TAIL_BYTES.
 */
class DocumentReader {
  readonly scanner = new JsonFieldScanner(wanted, ['message', 'response', 'usage']);
  #bytes = 0;
  #overflow = false;
  #tail: Buffer[] = [];
  #tailBytes = 0;

  write(bytes: Buffer): void {
    if (!this.#overflow) {
      this.#bytes += bytes.length;
      if (this.#bytes <= MAX_DOCUMENT_BYTES) {
        this.scanner.write(bytes);
        return;
      }
      // Past the cap the rest is not scanned; what was captured before it still counts.
      this.#overflow = true;
    }
    this.#keepTail(bytes);
  }

  finish(into: Accumulator): string | undefined {
    this.scanner.end();
    into.take(this.scanner);
    const type = this.scanner.values.get('type');
    this.scanner.reset();
    if (this.#overflow) this.#readTailUsage(into);
    this.#bytes = 0;
    this.#overflow = false;
    this.#tail = [];
    this.#tailBytes = 0;
    return typeof type === 'string' ? type : undefined;
  }

  #keepTail(bytes: Buffer): void {
    // A copy: a view would keep the whole (maybe huge) chunk alive.
    const kept = Buffer.from(bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES)));
    this.#tail.push(kept);
    this.#tailBytes += kept.length;
    while (this.#tail.length > 1 && this.#tailBytes - this.#tail[0]!.length >= TAIL_BYTES)
      this.#tailBytes -= this.#tail.shift()!.length;
  }

  /** `{` + the tail from its last `"usage":` key on is a document with that usage at its top. */
  #readTailUsage(into: Accumulator): void {
    const tail = Buffer.concat(this.#tail, this.#tailBytes);
    let at = tail.lastIndexOf(USAGE_KEY);
    while (at >= 0) {
      if (isKeyAt(tail, at)) {
        this.scanner.write(Buffer.from('{'));
        this.scanner.write(tail.subarray(at));
        this.scanner.end();
        into.take(this.scanner);
        this.scanner.reset();
        return;
      }
      // (A negative offset would count from the end.)
      if (at === 0) return;
      at = tail.lastIndexOf(USAGE_KEY, at - 1);
    }
  }
}

/**
 * Whether the `"usage"` at `at` is a key: its quote not escaped (an even run of backslashes
 * before it), and a colon after it. Generated text cannot fake one: its quotes are escaped.
 */
function isKeyAt(data: Buffer, at: number): boolean {
  let slashes = 0;
  while (at - slashes - 1 >= 0 && data[at - slashes - 1] === 0x5c) slashes++;
  if (slashes % 2 === 1) return false;
  let next = at + USAGE_KEY.length;
  while (
    next < data.length &&
    (data[next] === 0x20 || data[next] === 0x0a || data[next] === 0x0d || data[next] === 0x09)
  )
    next++;
  return data[next] === 0x3a;
}

/**
 * SSE events that never carry usage or the model: the content deltas, which are nearly all of a
 * stream's bytes, and pings. They are skipped by name, unread (Anthropic's `content_block_delta`,
 * the Responses API's `response.*.delta`); `message_delta` carries usage and is read.
 */
export function skippedEvent(name: string): boolean {
  return name === 'content_block_delta' || name === 'ping' || name.endsWith('.delta');
}

export type BodyFormat = 'json' | 'sse';

/** The body format a response's Content-Type names, if usage can be read from it. */
export function bodyFormatFor(contentType: string | undefined): BodyFormat | undefined {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'text/event-stream') return 'sse';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  return undefined;
}

/** Reads one HTTP response body (decoded bytes, in pieces); `end()` gives its usage. */
export class ResponseUsageReader {
  readonly #api: UsageApi;
  readonly #document = new DocumentReader();
  readonly #answer = new Accumulator();
  readonly #framer: SseFramer | undefined;

  constructor(api: UsageApi, format: BodyFormat) {
    this.#api = api;
    if (format === 'sse') {
      // Decided at an event's first data slice, so an event is read whole or not at all.
      let started = false;
      let skip = false;
      this.#framer = new SseFramer({
        data: (bytes, eventName) => {
          if (!started) {
            started = true;
            skip = skippedEvent(eventName);
          }
          if (!skip) this.#document.write(bytes);
        },
        dispatch: () => {
          if (!skip) this.#document.finish(this.#answer);
          started = false;
          skip = false;
        },
      });
    }
  }

  write(bytes: Buffer): void {
    if (this.#framer) this.#framer.write(bytes);
    else this.#document.write(bytes);
  }

  end(): ResponseUsage {
    if (this.#framer) this.#framer.end();
    else this.#document.finish(this.#answer);
    return this.#answer.result(this.#api);
  }
}

/** Event types that end one answer on a Responses WebSocket (and carry its usage). */
const RESPONSE_DONE = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * The Responses API over WebSocket: each server message is one JSON event, as in the SSE
 * stream, and one connection carries many answers; each ends with `response.completed` (or
 * `.incomplete`/`.failed`), which carries that answer's usage.
 */
export class WebSocketUsageReader {
  readonly #document = new DocumentReader();
  #answer = new Accumulator();

  /** Returns the usage when this message ended an answer. */
  message(data: Buffer): ResponseUsage | undefined {
    this.#document.write(data);
    const type = this.#document.finish(this.#answer);
    if (type === undefined || !RESPONSE_DONE.has(type)) return undefined;
    const usage = this.#answer.result('openai-responses');
    this.#answer = new Accumulator();
    return usage;
  }
}
