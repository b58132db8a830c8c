import { describe, expect, it } from 'vitest';
import { SecretSourceError } from '../../../src/engine/secrets/secret-source.js';
import {
  callSource,
  causeOf,
  describeThrown,
  formatDuration,
  SourceTimeout,
} from '../../../src/engine/secrets/source-call.js';

describe('callSource', () => {
  it('passes the answer through, and the source’s own rejection', async () => {
    expect(await callSource('env', 1_000, async () => 'answer')).toBe('answer');
    const refused = new SecretSourceError('no such variable', 'not-found');
    await expect(callSource('env', 1_000, () => Promise.reject(refused))).rejects.toBe(refused);
  });

  it('rejects a source that never answers with SourceTimeout, and aborts its signal with it', async () => {
    let seen: AbortSignal | undefined;
    const started = Date.now();
    const call = callSource('op', 50, (signal) => {
      seen = signal;
      return new Promise<never>(() => undefined);
    });
    const error = await call.catch((err: unknown) => err);
    expect(error).toBeInstanceOf(SourceTimeout);
    expect((error as Error).message).toBe('the op source did not answer within 50 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);
  });

  it('answers a source that throws instead of rejecting the same way', async () => {
    const thrown = new Error('sync throw');
    await expect(
      callSource('op', 1_000, () => {
        throw thrown;
      }),
    ).rejects.toBe(thrown);
  });
});

describe('causeOf', () => {
  it('keeps a source error’s kind, calls a timeout a timeout, anything else transient', () => {
    expect(causeOf('op', new SecretSourceError('item gone', 'not-found'))).toEqual([
      'not-found',
      'item gone',
    ]);
    expect(causeOf('op', new SourceTimeout('op', 10_000))).toEqual([
      'timeout',
      'the op source did not answer within 10 s',
    ]);
    expect(causeOf('op', new TypeError('boom'))).toEqual([
      'transient',
      'the op source failed: boom',
    ]);
  });

  it('never echoes a thrown value that is not an error or a string (a source bug may throw the secret)', () => {
    expect(describeThrown({ secret: 'sk-live-1234' })).toBe('threw object');
    expect(describeThrown(null)).toBe('threw null');
    expect(describeThrown(Object.assign(new Error(''), { name: 'AbortError' }))).toBe('AbortError');
  });
});

describe('formatDuration', () => {
  it.each([
    [0.4, '1 ms'],
    [999, '999 ms'],
    [1_000, '1 s'],
    [119_001, '120 s'],
    [120_000, '2 min'],
    [3_600_000, '60 min'],
  ])('%d ms is "%s"', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
