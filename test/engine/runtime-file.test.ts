import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  readRuntimeInfo,
  removeRuntimeInfo,
  writeRuntimeInfo,
} from '../../src/engine/runtime-file.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const home = tempDirs('keygate-runtime-');

describe('serve.json', () => {
  it('round-trips the address and the stale mappings, 0600, with no temporary file left', () => {
    const dir = home();
    const stale = { 'api.openai.com': 'item "OpenAI" not found' };
    writeRuntimeInfo(dir, { pid: process.pid, host: '127.0.0.1', port: 8790, stale });
    expect(readRuntimeInfo(dir)).toEqual({
      pid: process.pid,
      host: '127.0.0.1',
      port: 8790,
      stale,
    });
    expect(statSync(join(dir, 'serve.json')).mode & 0o777).toBe(0o600);
    writeRuntimeInfo(dir, { pid: process.pid, host: '127.0.0.1', port: 8791 });
    expect(readRuntimeInfo(dir)).toEqual({ pid: process.pid, host: '127.0.0.1', port: 8791 });
    expect(readdirSync(dir)).toEqual(['serve.json']);
  });

  it('ignores a file whose process is gone, a half-written file, and malformed stale flags', () => {
    const dir = home();
    const dead = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout,
    );
    writeRuntimeInfo(dir, { pid: dead, host: '127.0.0.1', port: 8790 });
    expect(readRuntimeInfo(dir)).toBeUndefined();
    writeFileSync(join(dir, 'serve.json'), `{"pid":${process.pid},"host":"127.0.0.1","po`);
    expect(readRuntimeInfo(dir)).toBeUndefined();
    writeFileSync(
      join(dir, 'serve.json'),
      JSON.stringify({ pid: process.pid, host: '127.0.0.1', port: 1, stale: { a: 1, b: 'gone' } }),
    );
    expect(readRuntimeInfo(dir)?.stale).toEqual({ b: 'gone' });
  });

  it('ignores a file naming pid 0 or -1, which signal a whole process group, not a process', () => {
    const dir = home();
    for (const pid of [0, -1]) {
      writeFileSync(join(dir, 'serve.json'), JSON.stringify({ pid, host: '127.0.0.1', port: 1 }));
      expect(readRuntimeInfo(dir)).toBeUndefined();
    }
  });

  it('is removed only by the process that wrote it', () => {
    const dir = home();
    writeRuntimeInfo(dir, { pid: process.pid, host: '127.0.0.1', port: 8790 });
    removeRuntimeInfo(dir, process.pid + 1);
    expect(readRuntimeInfo(dir)).toBeDefined();
    removeRuntimeInfo(dir, process.pid);
    expect(readRuntimeInfo(dir)).toBeUndefined();
  });

  it('names the file when it cannot be written', () => {
    const dir = join(home(), 'missing');
    expect(() => writeRuntimeInfo(dir, { pid: 1, host: '127.0.0.1', port: 1 })).toThrow(
      /cannot write \S+missing\/serve\.json/,
    );
  });
});
