import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/engine/errors.js';
import { RuleTable } from '../../../src/engine/rules/rule-table.js';
import type { Mapping } from '../../../src/shared/settings-schema.js';

function m(host: string, extra: Partial<Mapping> = {}): Mapping {
  return { host, ref: `env://${host.replace(/\W/g, '_')}`, injector: { type: 'bearer' }, ...extra };
}

describe('RuleTable', () => {
  it('is empty', () => {
    expect(RuleTable.empty.mappings).toEqual([]);
    expect(RuleTable.empty.refs).toEqual([]);
    expect(RuleTable.empty.hasHost('api.openai.com', 443)).toBe(false);
    expect(RuleTable.empty.match('api.openai.com', 443, '/')).toBeUndefined();
  });

  it('finds exact and wildcard hosts by port', () => {
    const table = new RuleTable([m('api.openai.com'), m('*.example.com', { port: 8443 })]);
    expect(table.hasHost('api.openai.com', 443)).toBe(true);
    expect(table.hasHost('api.openai.com', 8443)).toBe(false);
    expect(table.hasHost('openai.com', 443)).toBe(false);
    expect(table.hasHost('a.example.com', 8443)).toBe(true);
    expect(table.hasHost('a.b.example.com', 8443)).toBe(true);
    expect(table.hasHost('a.example.com', 443)).toBe(false);
    expect(table.hasHost('example.com', 8443)).toBe(false);
    expect(table.hasHostOnAnyPort('api.openai.com')).toBe(true);
    expect(table.hasHostOnAnyPort('a.example.com')).toBe(true);
    expect(table.hasHostOnAnyPort('example.com')).toBe(false);
  });

  it('prefers exact over wildcard, and longer wildcards over shorter', () => {
    const table = new RuleTable([
      m('*.example.com'),
      m('*.eu.example.com'),
      m('api.eu.example.com'),
    ]);
    expect(table.match('api.eu.example.com', 443, '/')?.name).toBe('api.eu.example.com');
    expect(table.match('x.eu.example.com', 443, '/')?.name).toBe('*.eu.example.com');
    expect(table.match('x.example.com', 443, '/')?.name).toBe('*.example.com');
    expect(table.match('eu.example.com', 443, '/')?.name).toBe('*.example.com');
    expect(table.match('example.com', 443, '/')).toBeUndefined();
  });

  it('prefers path globs over catch-alls, and the more specific glob, whatever the order', () => {
    const table = new RuleTable([
      m('api.openai.com', { ref: 'env://ALL' }),
      m('api.openai.com', { ref: 'env://V1', path: '/v1/**' }),
      m('api.openai.com', { ref: 'env://CHAT', path: '/v1/chat/**' }),
      m('api.openai.com', { ref: 'env://EXACT', path: '/v1/chat/completions' }),
    ]);
    const ref = (path: string) => table.match('api.openai.com', 443, path)?.config.ref;
    expect(ref('/v1/chat/completions')).toBe('env://EXACT');
    expect(ref('/v1/chat/completions?stream=true')).toBe('env://EXACT');
    expect(ref('/v1/chat/other')).toBe('env://CHAT');
    expect(ref('/v1/models')).toBe('env://V1');
    expect(ref('/v2/models')).toBe('env://ALL');
    expect(ref('/')).toBe('env://ALL');
  });

  it('falls through to a less specific host when the path does not match', () => {
    const table = new RuleTable([
      m('*.example.com', { ref: 'env://WILD' }),
      m('api.example.com', { ref: 'env://V1', path: '/v1/**' }),
    ]);
    expect(table.match('api.example.com', 443, '/v1/x')?.config.ref).toBe('env://V1');
    expect(table.match('api.example.com', 443, '/v2/x')?.config.ref).toBe('env://WILD');
  });

  it('puts a more specific host before a path glob on a less specific one', () => {
    const table = new RuleTable([
      m('*.example.com', { ref: 'env://WILD_V1', path: '/v1/**' }),
      m('api.example.com', { ref: 'env://EXACT' }),
    ]);
    expect(table.match('api.example.com', 443, '/v1/x')?.config.ref).toBe('env://EXACT');
    expect(table.match('b.example.com', 443, '/v1/x')?.config.ref).toBe('env://WILD_V1');
    expect(table.match('b.example.com', 443, '/v2/x')).toBeUndefined();
  });

  it('keeps settings order for equally specific globs', () => {
    const table = new RuleTable([
      m('api.example.com', { ref: 'env://FIRST', path: '/v1/*' }),
      m('api.example.com', { ref: 'env://SECOND', path: '/*/x' }),
    ]);
    expect(table.match('api.example.com', 443, '/v1/x')?.config.ref).toBe('env://FIRST');
  });

  it('matches by port, falling through to other ports’ mappings', () => {
    const table = new RuleTable([
      m('api.example.com', { ref: 'env://TLS' }),
      m('api.example.com', { ref: 'env://ALT', port: 8443 }),
    ]);
    expect(table.match('api.example.com', 443, '/')?.config.ref).toBe('env://TLS');
    expect(table.match('api.example.com', 8443, '/')?.config.ref).toBe('env://ALT');
    expect(table.match('api.example.com', 80, '/')).toBeUndefined();
  });

  it('matches loopback plaintext mappings on 80 and 443', () => {
    const table = new RuleTable([m('localhost', { allowPlaintext: true })]);
    expect(table.match('localhost', 80, '/')?.name).toBe('localhost');
    expect(table.match('localhost', 443, '/')?.name).toBe('localhost');
    expect(table.hasHost('localhost', 8080)).toBe(false);
  });

  it('keeps mappings in settings order and lists distinct refs', () => {
    const table = new RuleTable([
      m('b.example.com', { ref: 'env://B' }),
      m('a.example.com', { ref: 'env://A' }),
      m('c.example.com', { ref: 'env://B' }),
      m('d.example.com', { ref: 'env://PW', injector: { type: 'basic', userRef: 'env://USER' } }),
    ]);
    expect(table.mappings.map((x) => x.name)).toEqual([
      'b.example.com',
      'a.example.com',
      'c.example.com',
      'd.example.com',
    ]);
    expect(table.refs).toEqual(['env://B', 'env://A', 'env://PW', 'env://USER']);
  });

  it('names the bad mapping', () => {
    expect(() => new RuleTable([m('api.openai.com'), m('a.*.com')])).toThrow(InvalidInputError);
    expect(() => new RuleTable([m('api.openai.com'), m('a.*.com')])).toThrow(
      /^mapping #2 \(a\.\*\.com\): host "a\.\*\.com": a wildcard is only allowed/,
    );
  });

  it('refuses duplicates', () => {
    expect(
      () =>
        new RuleTable([m('api.openai.com'), m('API.openai.com.', { port: 443, ref: 'env://X' })]),
    ).toThrow(/mapping #2 .*duplicates mapping #1 \(api\.openai\.com\)/);
    expect(
      () => new RuleTable([m('api.openai.com'), m('api.openai.com', { path: '/v1/**' })]),
    ).not.toThrow();
  });

  it('stays fast with many mappings', () => {
    const mappings: Mapping[] = [];
    for (let i = 0; i < 200; i += 1) mappings.push(m(`host${i}.example.com`));
    for (let i = 0; i < 20; i += 1) mappings.push(m(`*.w${i}.example.org`));
    const table = new RuleTable(mappings);
    const started = performance.now();
    let hits = 0;
    for (let i = 0; i < 100_000; i += 1) {
      if (table.match(`host${i % 200}.example.com`, 443, '/v1/x?y=1')) hits += 1;
      if (table.hasHost('a.w19.example.org', 443)) hits += 1;
    }
    expect(hits).toBe(200_000);
    // Generous: a regression to per-call compilation would be orders of magnitude slower.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
