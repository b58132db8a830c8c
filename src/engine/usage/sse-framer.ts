/**
 * Incremental Server-Sent Events framing (WHATWG HTML §9.2.6, "Interpreting an event stream"):
 * lines end in CRLF, LF or CR; `data:` lines of one event are joined with LF; a blank line
 * dispatches the event. Events may be split across chunks at any byte, so this is a byte-level
 * state machine that never holds a line: `data` payload slices are handed on as they arrive
 * (zero copy), and only the short `event:` name is kept.
 */

export interface SseEventSink {
  /**
   * A slice of the current event's data (LF between its `data:` lines). `eventName` is the
   * event's name as far as known yet (servers send `event:` before `data:`), so a sink can skip
   * events it has no use for without reading them.
   */
  data(bytes: Buffer, eventName: string): void;
  /** A blank line ended an event that had data. */
  dispatch(eventName: string): void;
}

const MAX_FIELD = 16;
const MAX_EVENT_NAME = 64;
const LF = 0x0a;
const CR = 0x0d;
const NEWLINE = Buffer.from([LF]);

const enum Line {
  Start,
  Field,
  /** After the colon: one optional space to drop. */
  ValueStart,
  Value,
}

export class SseFramer {
  readonly #sink: SseEventSink;
  #line = Line.Start;
  #field = '';
  #fieldCut = false;
  #eventName = '';
  #hasData = false;
  #afterCr = false;

  constructor(sink: SseEventSink) {
    this.#sink = sink;
  }

  write(buf: Buffer): void {
    const n = buf.length;
    let i = 0;
    // CR-only line ends are rare; its position is looked up once per buffer and when passed.
    let nextCr = buf.indexOf(CR);
    while (i < n) {
      const c = buf[i]!;
      if (this.#afterCr) {
        this.#afterCr = false;
        if (c === LF) {
          i++;
          continue;
        }
      }
      if (c === CR || c === LF) {
        this.#endOfLine();
        this.#afterCr = c === CR;
        i++;
        continue;
      }
      switch (this.#line) {
        case Line.Start:
        case Line.Field:
          if (c === 0x3a /* : */) this.#line = Line.ValueStart;
          else {
            this.#line = Line.Field;
            if (this.#field.length < MAX_FIELD) this.#field += String.fromCharCode(c);
            else this.#fieldCut = true;
          }
          i++;
          break;
        case Line.ValueStart:
          this.#line = Line.Value;
          if (this.#field === 'data') this.#beginDataLine();
          else if (this.#field === 'event') this.#eventName = '';
          if (c === 0x20) i++;
          break;
        case Line.Value: {
          if (nextCr !== -1 && nextCr < i) nextCr = buf.indexOf(CR, i);
          const lf = buf.indexOf(LF, i);
          const end = Math.min(lf === -1 ? n : lf, nextCr === -1 ? n : nextCr);
          this.#value(buf.subarray(i, end));
          i = end;
          break;
        }
      }
    }
  }

  /** The stream ended: an event without its final blank line is dropped, as the spec says. */
  end(): void {
    this.#line = Line.Start;
    this.#field = '';
    this.#hasData = false;
  }

  #beginDataLine(): void {
    if (this.#fieldCut) return;
    if (this.#hasData) this.#sink.data(NEWLINE, this.#eventName);
    this.#hasData = true;
  }

  #value(bytes: Buffer): void {
    if (this.#fieldCut || bytes.length === 0) return;
    if (this.#field === 'data') this.#sink.data(bytes, this.#eventName);
    else if (this.#field === 'event' && this.#eventName.length < MAX_EVENT_NAME)
      this.#eventName += bytes.toString(
        'latin1',
        0,
        Math.min(bytes.length, MAX_EVENT_NAME - this.#eventName.length),
      );
  }

  #endOfLine(): void {
    if (this.#line === Line.Start) {
      // Blank line: dispatch.
      if (this.#hasData) this.#sink.dispatch(this.#eventName);
      this.#hasData = false;
      this.#eventName = '';
    } else if (this.#line === Line.Field || this.#line === Line.ValueStart) {
      // `data` with no colon, or `data:` with nothing after: an empty data line.
      if (this.#field === 'data') this.#beginDataLine();
    }
    this.#line = Line.Start;
    this.#field = '';
    this.#fieldCut = false;
  }
}
