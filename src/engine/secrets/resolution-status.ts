/**
 * What the resolver last saw of each reference: ok, or failing and why. The stale flag of a
 * mapping (`keygate map list`, the settings window) and the problem notifications read it.
 * Bounded (LRU): a reference evicted or never tried is 'unknown'.
 */
import { LRUCache } from 'lru-cache';
import type { SecretResolutionKind } from './secret-resolution-error.js';

export interface RefStatus {
  ref: string;
  state: 'ok' | 'failing' | 'unknown';
  /** The last failure's message, while failing. */
  reason?: string;
  /**
   * The last failure's kind, while failing. 'not-found' and 'invalid-ref' are about the reference
   * itself (a stale mapping); the others are about reaching the source.
   */
  kind?: SecretResolutionKind;
  /** On the resolver's clock (default `performance.now()`; add `performance.timeOrigin` for wall time). */
  lastOkAt?: number;
  lastErrorAt?: number;
}

interface StatusRecord {
  state: 'ok' | 'failing';
  reason: string | undefined;
  kind: SecretResolutionKind | undefined;
  lastOkAt: number | undefined;
  lastErrorAt: number | undefined;
}

export class ResolutionStatusTable {
  readonly #records: LRUCache<string, StatusRecord>;

  constructor(maxEntries: number) {
    this.#records = new LRUCache({ max: maxEntries });
  }

  get(ref: string): RefStatus {
    const record = this.#records.get(ref);
    if (record === undefined) return { ref, state: 'unknown' };
    const status: RefStatus = { ref, state: record.state };
    if (record.reason !== undefined) status.reason = record.reason;
    if (record.kind !== undefined) status.kind = record.kind;
    if (record.lastOkAt !== undefined) status.lastOkAt = record.lastOkAt;
    if (record.lastErrorAt !== undefined) status.lastErrorAt = record.lastErrorAt;
    return status;
  }

  /** A success clears the failure; when it last failed is kept. */
  recordOk(ref: string, now: number): void {
    const record = this.#records.get(ref) ?? this.#fresh(ref);
    record.state = 'ok';
    record.reason = undefined;
    record.kind = undefined;
    record.lastOkAt = now;
  }

  /** Failing until the next success; when it last resolved is kept. */
  recordFailure(ref: string, reason: string, kind: SecretResolutionKind, now: number): void {
    const record = this.#records.get(ref) ?? this.#fresh(ref);
    record.state = 'failing';
    record.reason = reason;
    record.kind = kind;
    record.lastErrorAt = now;
  }

  #fresh(ref: string): StatusRecord {
    const record: StatusRecord = {
      state: 'ok',
      reason: undefined,
      kind: undefined,
      lastOkAt: undefined,
      lastErrorAt: undefined,
    };
    this.#records.set(ref, record);
    return record;
  }
}
