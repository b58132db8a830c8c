/**
 * A streaming JSON scanner that keeps only a few small fields of a document it is fed in pieces:
 * the `usage` numbers and the `model` of an API answer, which may sit after megabytes of
 * generated text. It never buffers the document: memory is a key stack of bounded depth plus the
 * captured values, whatever the input. Bytes go through a byte-level state machine; long strings
 * (the generated text) are skipped with a tight loop.
 *
 * Lenient by design: it reads well-formed JSON (RFC 8259) right, and on anything else it stops
 * (`failed`) rather than guess. It is reset between documents (SSE events, WebSocket messages).
 */

/** Keys deeper than this are not named (their values are never wanted). */
const MAX_NAMED_DEPTH = 4;
/** A key or captured string longer than this is cut (models are ~40 characters). */
const MAX_TEXT = 128;

const enum State {
  Value,
  Key,
  KeyString,
  Colon,
  AfterValue,
  String,
  Number,
  Literal,
  Done,
  Failed,
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isNumberByte(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45
  );
}

export type ScannedValue = string | number;

/** Which paths to keep: dotted keys from the root, array elements named `[]`. */
export type CapturePredicate = (path: string) => boolean;

export class JsonFieldScanner {
  readonly #wanted: CapturePredicate;
  /** Top-level keys under which deeper keys are worth naming (the rest are skipped unread). */
  readonly #roots: ReadonlySet<string>;
  /** The values kept so far, by path. */
  readonly values = new Map<string, ScannedValue>();
  #state = State.Value;
  /** One entry per open container: the key being read in an object, `[]` in an array. */
  readonly #keys: string[] = [];
  readonly #isArray: boolean[] = [];
  #text = '';
  #textCut = false;
  #escape = false;
  /** The path of the string or number being read, when it is wanted. */
  #capturing: string | undefined;

  /** Where the next backslash of the buffer being read is (-1: none), to skip strings fast. */
  #nextBackslash = -1;

  constructor(wanted: CapturePredicate, roots: Iterable<string>) {
    this.#wanted = wanted;
    this.#roots = new Set(roots);
  }

  get failed(): boolean {
    return this.#state === State.Failed;
  }

  reset(): void {
    this.values.clear();
    this.#state = State.Value;
    this.#keys.length = 0;
    this.#isArray.length = 0;
    this.#text = '';
    this.#escape = false;
    this.#capturing = undefined;
  }

  /** A top-level scalar number ends only at the end of the input. */
  end(): void {
    if (this.#state === State.Number) this.#finishNumber();
  }

  write(buf: Buffer): void {
    const n = buf.length;
    let i = 0;
    this.#nextBackslash = buf.indexOf(BACKSLASH);
    while (i < n) {
      switch (this.#state) {
        case State.Done:
        case State.Failed:
          return;
        case State.String:
        case State.KeyString: {
          // The hot loop: skip to the next quote or backslash.
          const start = i;
          if (this.#escape) {
            this.#escape = false;
            i++;
          }
          // indexOf is native: strings (the generated text) are the bulk of every answer.
          if (this.#nextBackslash !== -1 && this.#nextBackslash < i)
            this.#nextBackslash = buf.indexOf(BACKSLASH, i);
          const quote = buf.indexOf(QUOTE, i);
          const stop = Math.min(
            quote === -1 ? n : quote,
            this.#nextBackslash === -1 ? n : this.#nextBackslash,
          );
          i = stop;
          if (this.#naming()) this.#appendText(buf, start, i);
          if (i >= n) break;
          if (buf[i] === BACKSLASH) {
            if (this.#naming()) this.#appendText(buf, i, i + 1);
            this.#escape = true;
            i++;
            continue;
          }
          i++; // the closing quote
          if (this.#state === State.KeyString) {
            this.#keys[this.#keys.length - 1] = this.#textCut ? '' : this.#text;
            this.#state = State.Colon;
          } else {
            if (this.#capturing !== undefined)
              this.values.set(this.#capturing, unescape(this.#text));
            this.#capturing = undefined;
            this.#afterValue();
          }
          break;
        }
        case State.Number: {
          const start = i;
          while (i < n && isNumberByte(buf[i]!)) i++;
          if (this.#capturing !== undefined) this.#appendText(buf, start, i);
          if (i < n) this.#finishNumber();
          break;
        }
        case State.Literal: {
          while (i < n && buf[i]! >= 0x61 && buf[i]! <= 0x7a) i++;
          if (i < n) this.#afterValue();
          break;
        }
        default: {
          const c = buf[i]!;
          i++;
          if (isSpace(c)) break;
          this.#structural(c);
        }
      }
    }
  }

  #structural(c: number): void {
    switch (this.#state) {
      case State.Value:
        this.#startValue(c);
        return;
      case State.Key:
        if (c === QUOTE) {
          this.#startText();
          this.#state = State.KeyString;
        } else if (c === 0x7d /* } */) this.#close(false);
        else this.#state = State.Failed;
        return;
      case State.Colon:
        this.#state = c === 0x3a ? State.Value : State.Failed;
        return;
      case State.AfterValue:
        if (c === 0x2c /* , */) {
          const inArray = this.#isArray[this.#isArray.length - 1];
          this.#state = inArray ? State.Value : State.Key;
        } else if (c === 0x7d /* } */) this.#close(false);
        else if (c === 0x5d /* ] */) this.#close(true);
        else this.#state = State.Failed;
        return;
      default:
        this.#state = State.Failed;
    }
  }

  #startValue(c: number): void {
    if (c === 0x7b /* { */) {
      this.#keys.push('');
      this.#isArray.push(false);
      this.#state = State.Key;
    } else if (c === 0x5b /* [ */) {
      this.#keys.push('[]');
      this.#isArray.push(true);
      this.#state = State.Value;
    } else if (c === 0x5d /* ] right after [ */ && this.#isArray[this.#isArray.length - 1]) {
      this.#close(true);
    } else if (c === QUOTE) {
      this.#capturing = this.#wantedPath();
      this.#startText();
      this.#state = State.String;
    } else if (isNumberByte(c)) {
      this.#capturing = this.#wantedPath();
      this.#startText();
      this.#text = String.fromCharCode(c);
      this.#state = State.Number;
    } else if (c === 0x74 || c === 0x66 || c === 0x6e /* t f n */) {
      this.#state = State.Literal;
    } else this.#state = State.Failed;
  }

  #close(array: boolean): void {
    if (this.#isArray[this.#isArray.length - 1] !== array) {
      this.#state = State.Failed;
      return;
    }
    this.#keys.pop();
    this.#isArray.pop();
    this.#afterValue();
  }

  #afterValue(): void {
    this.#state = this.#keys.length === 0 ? State.Done : State.AfterValue;
  }

  #finishNumber(): void {
    if (this.#capturing !== undefined) {
      const value = Number(this.#text);
      if (Number.isFinite(value)) this.values.set(this.#capturing, value);
    }
    this.#capturing = undefined;
    this.#afterValue();
  }

  /** Whether the string being read is kept: a key worth naming, or a wanted value. */
  #naming(): boolean {
    if (this.#state !== State.KeyString) return this.#capturing !== undefined;
    const depth = this.#keys.length;
    return depth === 1 || (depth <= MAX_NAMED_DEPTH && this.#roots.has(this.#keys[0]!));
  }

  #wantedPath(): string | undefined {
    const depth = this.#keys.length;
    if (depth > MAX_NAMED_DEPTH || (depth > 1 && !this.#roots.has(this.#keys[0]!)))
      return undefined;
    if (this.#keys.includes('')) return undefined;
    const path = this.#keys.join('.');
    return this.#wanted(path) ? path : undefined;
  }

  #startText(): void {
    this.#text = '';
    this.#textCut = false;
  }

  #appendText(buf: Buffer, start: number, end: number): void {
    if (end <= start || this.#textCut) return;
    if (this.#text.length + (end - start) > MAX_TEXT) {
      this.#textCut = true;
      end = start + Math.max(0, MAX_TEXT - this.#text.length);
    }
    this.#text += buf.toString('latin1', start, end);
  }
}

/** Model names and event types are ASCII; an escape in one is kept readable, not decoded. */
function unescape(text: string): string {
  return text.includes('\\') ? text.replace(/\\(["\\/])/g, '$1') : text;
}
