import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../../src/engine/process-alive.js';

describe('processAlive', () => {
  it('is true for a running process, false for one that has exited', () => {
    expect(processAlive(process.pid)).toBe(true);
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    expect(processAlive(Number(child.stdout.toString()))).toBe(false);
  });

  it('is false for what is not one process’s pid: 0 and -1 would signal a whole group', () => {
    for (const pid of [0, -1, -process.pid, 1.5, Number.NaN]) expect(processAlive(pid)).toBe(false);
  });
});
