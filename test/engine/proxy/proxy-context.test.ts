/**
 * The proxy context (src/engine/proxy/proxy-context.ts): the default timeouts every proxy starts
 * with (connect and TLS handshake 10 s, an upstream silent for 10 min, the agent's own handshake
 * 10 s; docs/security.md, "Errors the agent sees").
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUTS } from '../../../src/engine/proxy/proxy-context.js';

describe('DEFAULT_TIMEOUTS', () => {
  it('gives a dial (TCP and TLS) 10 s, an upstream 10 min of silence, an agent 10 s to handshake', () => {
    expect(DEFAULT_TIMEOUTS).toStrictEqual({
      connectMs: 10_000,
      upstreamIdleMs: 600_000,
      handshakeMs: 10_000,
    });
  });

  it('lets a slow connect be cut by the connect timeout, before the idle timer could fire', () => {
    // The idle timer runs from the moment the request has a socket, connecting or not: were it
    // the shorter, a dial that never completes would never be cut as a connect timeout.
    expect(DEFAULT_TIMEOUTS.connectMs).toBeLessThan(DEFAULT_TIMEOUTS.upstreamIdleMs);
  });
});
