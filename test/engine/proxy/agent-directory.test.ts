/**
 * AgentDirectory (src/engine/proxy/agent-directory.ts): who a Proxy-Authorization header names,
 * and whether an agent authenticated earlier still is (by its token, not its name).
 */
import { describe, expect, it } from 'vitest';
import {
  AgentDirectory,
  tokenFromProxyAuthorization,
} from '../../../src/engine/proxy/agent-directory.js';
import type { Agent } from '../../../src/shared/settings-schema.js';

const AT = '2026-12-03T00:00:00.000Z';
const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

function agent(name: string, token: string, hosts?: string[]): Agent {
  return { name, token, createdAt: AT, ...(hosts ? { hosts } : {}) };
}

describe('tokenFromProxyAuthorization', () => {
  it.each([
    [basic('claude:tok-1'), 'tok-1'],
    [basic('tok-2:'), 'tok-2'],
    [basic('tok-3'), 'tok-3'],
    [`basic ${Buffer.from('x:tok-4').toString('base64')}`, 'tok-4'],
  ])('%s → %s', (header, token) => {
    expect(tokenFromProxyAuthorization(header)).toBe(token);
  });

  it.each([
    [undefined],
    [''],
    ['Bearer abc'],
    ['Basic'],
    ['Basic !!!'],
    [basic(':')],
    [`Basic ${'A'.repeat(2000)}`],
  ])('%j names no token', (header) => {
    expect(tokenFromProxyAuthorization(header)).toBeUndefined();
  });
});

describe('AgentDirectory', () => {
  const directory = new AgentDirectory([
    agent('claude', 'claude-token'),
    agent('ci', 'ci-token', ['api.example.com', '*.internal.test']),
  ]);

  it('authenticates by token, whatever user name the client sent', () => {
    expect(directory.authenticate(basic('anything:claude-token'))?.name).toBe('claude');
    expect(directory.authenticate(basic('claude:wrong'))).toBeUndefined();
    expect(directory.size).toBe(2);
  });

  it('grants every mapped host without --hosts, and only the listed ones with it', () => {
    const ci = directory.named('ci')!;
    expect(directory.named('claude')!.mayUseHost('anything.test')).toBe(true);
    expect(ci.mayUseHost('api.example.com')).toBe(true);
    expect(ci.mayUseHost('a.internal.test')).toBe(true);
    expect(ci.mayUseHost('api.other.com')).toBe(false);
  });

  it('current(): an agent is current while its token is; a new token under the same name is not it', () => {
    const claude = directory.authenticate(basic('x:claude-token'))!;
    const reloaded = new AgentDirectory([agent('claude', 'claude-token', ['api.example.com'])]);
    // Same token, new settings: the current entry, with the grants as they are now.
    expect(reloaded.current(claude)?.mayUseHost('api.other.com')).toBe(false);
    const rotated = new AgentDirectory([agent('claude', 'a-new-token')]);
    expect(rotated.named('claude')).toBeDefined();
    expect(rotated.current(claude)).toBeUndefined();
    expect(new AgentDirectory([]).current(claude)).toBeUndefined();
  });

  it('current() never moves a token to another agent’s name', () => {
    const claude = directory.authenticate(basic('x:claude-token'))!;
    const renamed = new AgentDirectory([agent('someone-else', 'claude-token')]);
    expect(renamed.current(claude)).toBeUndefined();
  });

  it('keeps only a digest of the token on the agent', () => {
    const claude = directory.authenticate(basic('x:claude-token'))!;
    expect(claude.credential).not.toContain('claude-token');
    expect(JSON.stringify(claude)).not.toContain('claude-token');
  });
});
