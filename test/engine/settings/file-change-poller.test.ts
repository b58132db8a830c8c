import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileChangePoller } from '../../../src/engine/settings/file-change-poller.js';

const INTERVAL_MS = 40;
const WAIT = { timeout: 5_000, interval: 20 };

let dir: string;
let file: string;
const pollers: FileChangePoller[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keygate-poller-'));
  file = path.join(dir, 'settings.json');
  fs.writeFileSync(file, '{"v":1}');
});

afterEach(() => {
  for (const poller of pollers.splice(0)) poller.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function watch(onChange: () => void): FileChangePoller {
  const poller = new FileChangePoller(file, onChange, INTERVAL_MS);
  pollers.push(poller);
  return poller;
}

function writeAtomically(content: string): void {
  fs.writeFileSync(`${file}.tmp`, content);
  fs.renameSync(`${file}.tmp`, file);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('FileChangePoller', () => {
  it('sees a write made in the same tick it started, even with the libuv threadpool saturated', async () => {
    // The CI failure this class exists for: fs.watchFile takes its baseline on the threadpool,
    // so with the pool busy a write made right after the watch starts became the baseline.
    const busy = Array.from({ length: 4 }, () =>
      promisify(crypto.pbkdf2)('x', 'y', 200_000, 32, 'sha256'),
    );
    const onChange = vi.fn();
    watch(onChange);
    writeAtomically('{"v":2}');

    await vi.waitFor(() => expect(onChange).toHaveBeenCalledTimes(1), WAIT);
    await Promise.all(busy);
  });

  it('reports an in-place rewrite of the same size (mtime and ctime change, inode does not)', async () => {
    const onChange = vi.fn();
    watch(onChange);
    await sleep(5);
    fs.writeFileSync(file, '{"v":9}');

    await vi.waitFor(() => expect(onChange).toHaveBeenCalledTimes(1), WAIT);
  });

  it('reports a write made in several steps once', async () => {
    const onChange = vi.fn();
    watch(onChange);
    // Synchronous, so no poll can fall between the steps whatever the machine's load.
    for (let i = 0; i < 5; i++) fs.appendFileSync(file, ' ');

    await vi.waitFor(() => expect(onChange).toHaveBeenCalledTimes(1), WAIT);
    await sleep(INTERVAL_MS * 4);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('waits for a file that is still changing to settle before reporting it', async () => {
    const onChange = vi.fn();
    const poller = watch(onChange);
    // A writer slower than the poll: every poll sees a new stamp, so nothing is reported yet.
    const writer = setInterval(() => fs.appendFileSync(file, ' '), INTERVAL_MS / 4);
    await sleep(INTERVAL_MS * 5);
    clearInterval(writer);
    const whileWriting = onChange.mock.calls.length;
    await vi.waitFor(() => expect(onChange.mock.calls.length).toBeGreaterThan(whileWriting), WAIT);
    poller.close();
    // Under load a poll may still land between two appends and report early; what matters is
    // that the settled file is reported after the writer stopped.
    expect(whileWriting).toBeLessThanOrEqual(2);
  });

  it('does not report what the owner rebaselined after its own write', async () => {
    const onChange = vi.fn();
    const poller = watch(onChange);
    writeAtomically('{"v":3}');
    poller.rebaseline();

    await sleep(INTERVAL_MS * 5);
    expect(onChange).not.toHaveBeenCalled();
  });

  it('reports a removed file, and its return', async () => {
    const onChange = vi.fn();
    watch(onChange);
    fs.rmSync(file);
    await vi.waitFor(() => expect(onChange).toHaveBeenCalledTimes(1), WAIT);

    writeAtomically('{"v":4}');
    await vi.waitFor(() => expect(onChange).toHaveBeenCalledTimes(2), WAIT);
  });

  it('reports nothing after close', async () => {
    const onChange = vi.fn();
    const poller = watch(onChange);
    poller.close();
    writeAtomically('{"v":5}');

    await sleep(INTERVAL_MS * 5);
    expect(onChange).not.toHaveBeenCalled();
  });
});
