import { describe, expect, it } from 'vitest';
import { ResolutionStatusTable } from '../../../src/engine/secrets/resolution-status.js';

describe('ResolutionStatusTable', () => {
  it('is unknown for a reference never tried', () => {
    expect(new ResolutionStatusTable(10).get('env://A')).toEqual({
      ref: 'env://A',
      state: 'unknown',
    });
  });

  it('fails with the reason and kind until a success, which keeps when it last failed', () => {
    const table = new ResolutionStatusTable(10);
    table.recordOk('op://v/i/f', 1);
    table.recordFailure('op://v/i/f', 'item gone', 'not-found', 2);
    expect(table.get('op://v/i/f')).toEqual({
      ref: 'op://v/i/f',
      state: 'failing',
      reason: 'item gone',
      kind: 'not-found',
      lastOkAt: 1,
      lastErrorAt: 2,
    });
    table.recordOk('op://v/i/f', 3);
    expect(table.get('op://v/i/f')).toEqual({
      ref: 'op://v/i/f',
      state: 'ok',
      lastOkAt: 3,
      lastErrorAt: 2,
    });
  });

  it('holds at most maxEntries references, forgetting the least recently used', () => {
    const table = new ResolutionStatusTable(2);
    table.recordFailure('env://A', 'unset', 'not-found', 1);
    table.recordOk('env://B', 2);
    table.get('env://A');
    table.recordOk('env://C', 3);
    expect(table.get('env://B').state).toBe('unknown');
    expect(table.get('env://A').state).toBe('failing');
    expect(table.get('env://C').state).toBe('ok');
  });
});
