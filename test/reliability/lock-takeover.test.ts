/**
 * Holders of the file lock killed at random leave stale locks that the survivors race to take
 * over. Two takers-over must never both get in (the second removing the first's new lock), and
 * the dead holders' locks must never stop the others. Four processes, one killed every 100-200 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/keygate-process.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const tempDir = tempDirs('keygate-lock-takeover-');
const WORKER = join(REPO_ROOT, 'test', 'fixtures', 'lock-worker.mjs');
const CONTENDERS = 4;
const KILLS = 50;

describe('the file lock under kill -9', () => {
  it(`${CONTENDERS} processes, ${KILLS} of them killed inside or outside the lock: never two inside at once, and work goes on`, async () => {
    const dir = tempDir();
    const lock = join(dir, 'settings.json.lock');
    const marker = join(dir, 'inside');
    const workers = new Set<ChildProcess>();
    const overlaps: string[] = [];
    let progress = 0;
    const start = () => {
      const child = spawn(process.execPath, [WORKER, join(REPO_ROOT, 'dist'), lock, marker], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) {
          if (line.startsWith('OVERLAP')) overlaps.push(line);
          if (line.startsWith('sections')) progress++;
        }
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('exit', (code, signal) => {
        workers.delete(child);
        if (signal !== 'SIGKILL' && code !== 3) overlaps.push(`worker exited ${code}: ${stderr}`);
      });
      workers.add(child);
    };
    try {
      for (let i = 0; i < CONTENDERS; i++) start();
      for (let kills = 0; kills < KILLS && overlaps.length === 0; kills++) {
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 100));
        const alive = [...workers];
        alive[Math.floor(Math.random() * alive.length)]?.kill('SIGKILL');
        while (workers.size < CONTENDERS) start();
      }
    } finally {
      for (const worker of workers) worker.kill('SIGKILL');
    }
    expect(overlaps).toEqual([]);
    // Each line is 50 sections done by one worker: the lock kept changing hands throughout.
    expect(progress).toBeGreaterThan(20);
  }, 60_000);
});
