/**
 * Usage accounting as request hooks (src/engine/proxy/request-hooks.ts): for a 2xx answer of a
 * usage-bearing API (usage-reader.ts), a copy of the relayed bytes is decoded on the side and
 * scanned; at the end of the body its usage is counted in the UsageStore. The relay is never
 * held or slowed: observers only read, in bounded memory, and never throw into the relay.
 */
import type { Logger } from '../log/logger.js';
import type {
  AdmittedRequest,
  RequestHooks,
  ResponseObserver,
  WebSocketObserver,
} from '../proxy/request-hooks.js';
import { contentCodings, createBodyDecoder } from './body-decoder.js';
import {
  bodyFormatFor,
  ResponseUsageReader,
  usageApiFor,
  WebSocketUsageReader,
  type ResponseUsage,
} from './usage-reader.js';
import type { UsageStore } from './usage-store.js';

export class UsageHooks implements RequestHooks {
  readonly #store: UsageStore;
  readonly #log: Logger | undefined;

  constructor(store: UsageStore, log?: Logger) {
    this.#store = store;
    this.#log = log;
  }

  onResponse(
    request: AdmittedRequest,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): ResponseObserver | undefined {
    if (status < 200 || status > 299) return undefined;
    const api = usageApiFor(request.method, request.path);
    if (!api || request.method !== 'POST') return undefined;
    const contentType = headers['content-type'];
    const format = bodyFormatFor(Array.isArray(contentType) ? contentType[0] : contentType);
    if (!format) return undefined;
    const reader = new ResponseUsageReader(api, format);
    let complete = false;
    const decoder = createBodyDecoder(contentCodings(headers['content-encoding']), {
      write: (bytes) => reader.write(bytes),
      end: (reason) => {
        if (reason) this.#log?.debug('usage not read', { mapping: request.mapping, reason });
        this.#count(request, reason ? undefined : reader.end(), complete);
      },
    });
    let ended = false;
    return {
      chunk: (data) => decoder.write(data),
      end: (whole) => {
        if (ended) return;
        ended = true;
        complete = whole;
        decoder.end();
      },
    };
  }

  onWebSocket(request: AdmittedRequest): WebSocketObserver | undefined {
    if (usageApiFor('GET', request.path) !== 'openai-responses') return undefined;
    const reader = new WebSocketUsageReader();
    return {
      message: (data, isText) => {
        if (!isText) return;
        const usage = reader.message(data);
        if (usage) this.#count(request, usage, true);
      },
      close: () => undefined,
    };
  }

  /** One answer: a request, and its tokens when it said them. */
  #count(request: AdmittedRequest, usage: ResponseUsage | undefined, complete: boolean): void {
    if (usage && !usage.found)
      this.#log?.debug('answer carried no usage', { mapping: request.mapping, complete });
    this.#store.add(
      { agent: request.agent, mapping: request.mapping, model: usage?.model },
      {
        requests: 1,
        inputTokens: usage?.inputTokens ?? 0,
        outputTokens: usage?.outputTokens ?? 0,
        cachedTokens: usage?.cachedTokens ?? 0,
      },
    );
  }
}
