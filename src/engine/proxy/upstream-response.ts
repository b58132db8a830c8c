/**
 * An upstream's answer from undici (upstream-client.ts) as the rest of the proxy reads one: a
 * Readable body with `statusCode`, `statusMessage` and `rawHeaders` (names as the upstream spelled
 * them, for scrubbing and to pass on). Backpressure both ways: a full buffer pauses undici's
 * socket, a read resumes it; destroying the body aborts the request, which closes its connection
 * rather than return a half-read one to the pool.
 *
 * `ResponseHandler` is the undici dispatch handler that makes one: it calls `onResponse` once with
 * the final (≥ 200) head, or `onError` if the request fails before one arrives. Failures after
 * the head go to the body stream, as Node's own IncomingMessage does.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

export class UpstreamResponse extends Readable {
  readonly rawHeaders: string[];

  constructor(
    private readonly controller: Dispatcher.DispatchController,
    readonly statusCode: number,
    readonly statusMessage: string,
    rawHeaders: readonly Buffer[],
  ) {
    super();
    const names: string[] = new Array<string>(rawHeaders.length);
    for (let i = 0; i < rawHeaders.length; i += 1) names[i] = rawHeaders[i]!.toString('latin1');
    this.rawHeaders = names;
  }

  override _read(): void {
    this.controller.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.readableEnded) this.controller.abort(err ?? abortedError());
    // As Node's IncomingMessage: an error nobody listens for is not thrown at the process.
    callback(this.listenerCount('error') > 0 ? err : null);
  }
}

export interface ResponseCallbacks {
  onResponse(response: UpstreamResponse): void;
  /** Before any final head: dialling, TLS, sending, or waiting for the head. */
  onError(err: Error): void;
}

export class ResponseHandler implements Dispatcher.DispatchHandler {
  #controller: Dispatcher.DispatchController | undefined;
  #response: UpstreamResponse | undefined;
  #abortedWith: Error | undefined;

  constructor(private readonly callbacks: ResponseCallbacks) {}

  /** Cuts the request wherever it is, including before undici has started it. */
  abort(err: Error): void {
    if (this.#controller) this.#controller.abort(err);
    else this.#abortedWith = err;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortedWith) controller.abort(this.#abortedWith);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    // Informational answers (103 Early Hints) are not passed on, as with Node's client.
    if (statusCode < 200) return;
    this.#response = new UpstreamResponse(
      controller,
      statusCode,
      statusMessage ?? '',
      (controller.rawHeaders ?? []) as Buffer[],
    );
    this.callbacks.onResponse(this.#response);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#response && !this.#response.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.#response?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#response) {
      if (!this.#response.destroyed) this.#response.destroy(err);
      return;
    }
    this.callbacks.onError(err);
  }
}

function abortedError(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}
