/**
 * HostsFile and parseHosts (src/engine/proxy/hosts-file.ts): the hosts file c-ares never reads,
 * read by Keygate instead. hosts(5) lines (comments, aliases, both families, zone indexes, case
 * and trailing dots); a missing or unreadable file gives no entries and is read again once it is
 * back; the file is re-read when its modification time changes, looked at at most once a second;
 * at most the first MiB is read. Real files in a temp dir.
 */
import { mkdirSync, readFileSync, rmdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostsFile, parseHosts } from '../../../src/engine/proxy/hosts-file.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-hosts-');

/** The once-a-second recheck (hosts-file.ts RECHECK_MS). */
const RECHECK_MS = 1_000;

/** The clock HostsFile reads, moved by the test. */
class Clock {
  #ms = 1_000_000;
  readonly now = () => this.#ms;
  advance(ms: number): void {
    this.#ms += ms;
  }
}

/** A whole second, as utimes takes it: equal on every filesystem after a round trip. */
const MTIME = 1_700_000_000;

function hostsPath(text?: string): string {
  const path = join(tempDir(), 'hosts');
  if (text !== undefined) writeFileSync(path, text);
  return path;
}

/** Writes `text` with the modification time `mtime`, so a test says whether it changed. */
function rewrite(path: string, text: string, mtime: number): void {
  writeFileSync(path, text);
  utimesSync(path, mtime, mtime);
}

describe('parseHosts', () => {
  it('reads ADDRESS NAME [ALIAS…] per line, in both families, names in order of appearance', () => {
    const entries = parseHosts(
      [
        '127.0.0.1 localhost',
        '::1 localhost ip6-localhost ip6-loopback',
        '10.0.0.1\tapi.example.test\t api',
        '10.0.0.2 api.example.test',
        '2001:db8::2 api.example.test',
      ].join('\n'),
    );
    expect(entries.get('localhost')).toEqual({ v4: ['127.0.0.1'], v6: ['::1'] });
    expect(entries.get('ip6-localhost')).toEqual({ v4: [], v6: ['::1'] });
    expect(entries.get('ip6-loopback')).toEqual({ v4: [], v6: ['::1'] });
    expect(entries.get('api.example.test')).toEqual({
      v4: ['10.0.0.1', '10.0.0.2'],
      v6: ['2001:db8::2'],
    });
    expect(entries.get('api')).toEqual({ v4: ['10.0.0.1'], v6: [] });
    expect([...entries.keys()]).toEqual([
      'localhost',
      'ip6-localhost',
      'ip6-loopback',
      'api.example.test',
      'api',
    ]);
  });

  it('skips comments, blank lines and lines whose first field is not an IP address', () => {
    const entries = parseHosts(
      [
        '# 10.0.0.9 commented.example.test',
        '',
        '   ',
        '10.0.0.1 kept.example.test # 10.0.0.8 trailing.example.test',
        'bad line',
        '999.1.1.1 out-of-range.example.test',
        'host%zone not-an-address.example.test',
        '10.0.0.3',
        '10.0.0.4 #only-a-comment',
      ].join('\n'),
    );
    expect([...entries.keys()]).toEqual(['kept.example.test']);
    expect(entries.get('kept.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
  });

  it('lower-cases names, drops a trailing dot and ignores a bare dot', () => {
    const entries = parseHosts('10.0.0.1 Mixed.Example.TEST. .\n');
    expect([...entries.keys()]).toEqual(['mixed.example.test']);
  });

  it('keeps a zone index, which net.connect understands', () => {
    expect(parseHosts('fe80::1%lo0 link.example.test\n').get('link.example.test')).toEqual({
      v4: [],
      v6: ['fe80::1%lo0'],
    });
  });

  it('reads Windows line endings', () => {
    const entries = parseHosts('10.0.0.1 one.example.test\r\n10.0.0.2 two.example.test\r\n');
    expect(entries.get('one.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
    expect(entries.get('two.example.test')).toEqual({ v4: ['10.0.0.2'], v6: [] });
  });

  it('gives nothing for an empty file', () => {
    expect(parseHosts('').size).toBe(0);
  });
});

describe('HostsFile', () => {
  it('looks a name up case-insensitively, with or without a trailing dot', () => {
    const hosts = new HostsFile(hostsPath('10.0.0.1 api.example.test\n::1 api.example.test\n'));
    const entry = { v4: ['10.0.0.1'], v6: ['::1'] };
    expect(hosts.lookup('api.example.test')).toEqual(entry);
    expect(hosts.lookup('API.Example.Test')).toEqual(entry);
    expect(hosts.lookup('api.example.test.')).toEqual(entry);
    expect(hosts.lookup('other.example.test')).toBeUndefined();
  });

  it('reads /etc/hosts by default (outside Windows)', () => {
    // Whatever this machine's file says, the default HostsFile says the same.
    let expected = new Map<string, unknown>();
    try {
      expected = parseHosts(readFileSync('/etc/hosts', 'utf8'));
    } catch {
      // No /etc/hosts here: no entries either way.
    }
    const hosts = new HostsFile();
    for (const name of ['localhost', ...[...expected.keys()].slice(0, 5)])
      expect(hosts.lookup(name)).toEqual(expected.get(name));
  });

  it('gives no entries while the file is missing, and reads it once it appears', () => {
    const path = hostsPath();
    const clock = new Clock();
    const hosts = new HostsFile(path, clock.now);
    expect(hosts.lookup('api.example.test')).toBeUndefined();
    writeFileSync(path, '10.0.0.1 api.example.test\n');
    clock.advance(RECHECK_MS);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
  });

  it('re-reads the file when its modification time changes', () => {
    const path = hostsPath();
    rewrite(path, '10.0.0.1 api.example.test\n', MTIME);
    const clock = new Clock();
    const hosts = new HostsFile(path, clock.now);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
    rewrite(path, '10.0.0.2 api.example.test\n10.0.0.3 new.example.test\n', MTIME + 1);
    clock.advance(RECHECK_MS);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.2'], v6: [] });
    expect(hosts.lookup('new.example.test')).toEqual({ v4: ['10.0.0.3'], v6: [] });
  });

  it('keeps what it read while the modification time stays the same', () => {
    const path = hostsPath();
    rewrite(path, '10.0.0.1 api.example.test\n', MTIME);
    const clock = new Clock();
    const hosts = new HostsFile(path, clock.now);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
    rewrite(path, '10.0.0.2 api.example.test\n', MTIME);
    // Past the once-a-second recheck: the file was looked at again, and not read.
    clock.advance(RECHECK_MS);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
  });

  it('looks at the file at most once a second', () => {
    const path = hostsPath('10.0.0.1 api.example.test\n');
    const clock = new Clock();
    const hosts = new HostsFile(path, clock.now);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
    rmSync(path);
    clock.advance(RECHECK_MS - 1);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
    clock.advance(1);
    expect(hosts.lookup('api.example.test')).toBeUndefined();
  });

  it('forgets every entry once the file is removed, and reads it again when it is back', () => {
    const path = hostsPath();
    rewrite(path, '10.0.0.1 api.example.test\n', MTIME);
    const clock = new Clock();
    const hosts = new HostsFile(path, clock.now);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
    rmSync(path);
    clock.advance(RECHECK_MS);
    expect(hosts.lookup('api.example.test')).toBeUndefined();
    // Back as it was, modification time and all (as `cp -p` or a restore leaves it).
    rewrite(path, '10.0.0.1 api.example.test\n', MTIME);
    clock.advance(RECHECK_MS);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
  });

  it('gives no entries while the file cannot be read, and reads it once it can', () => {
    // Something at the path that stat(2) sees but read(2) refuses (EISDIR, for root too, which
    // chmod 000 would not stop); then the file, with the same modification time, as a permission
    // change (chmod leaves the mtime alone) or `cp -p` would leave it.
    const path = hostsPath();
    mkdirSync(path);
    utimesSync(path, MTIME, MTIME);
    const clock = new Clock();
    const hosts = new HostsFile(path, clock.now);
    expect(hosts.lookup('api.example.test')).toBeUndefined();
    rmdirSync(path);
    rewrite(path, '10.0.0.1 api.example.test\n', MTIME);
    clock.advance(RECHECK_MS);
    expect(hosts.lookup('api.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
  });

  it('reads at most the first MiB of a larger file', () => {
    const head = '10.0.0.1 first.example.test\n';
    const padding = `#${'x'.repeat(1023)}\n`.repeat(1024);
    const path = hostsPath(`${head}${padding}10.0.0.2 beyond.example.test\n`);
    const hosts = new HostsFile(path);
    expect(hosts.lookup('first.example.test')).toEqual({ v4: ['10.0.0.1'], v6: [] });
    expect(hosts.lookup('beyond.example.test')).toBeUndefined();
  });
});
