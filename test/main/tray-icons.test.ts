/**
 * The committed tray icons are real PNGs of the right sizes, black with alpha only (what macOS
 * template images need), and exactly what build/generate-tray-icons.mjs draws.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/keygate-process.js';

const NAMES = ['trayTemplate', 'trayOffTemplate', 'trayErrorTemplate', 'trayWaitingTemplate'];
const FILES = NAMES.flatMap(
  (name) =>
    [
      [`${name}.png`, 16],
      [`${name}@2x.png`, 32],
    ] as const,
);

function decode(png: Buffer) {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let offset = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('ascii', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      colorType = data[9]!;
    }
    if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  return { width, height, colorType, raw: inflateSync(Buffer.concat(idat)) };
}

const out = mkdtempSync(join(tmpdir(), 'keygate-icons-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('tray icons', () => {
  it.each(FILES)('%s is a %ipx RGBA PNG, black plus alpha, not empty', (file, size) => {
    const { width, height, colorType, raw } = decode(readFileSync(join(REPO_ROOT, 'build', file)));
    expect([width, height, colorType]).toEqual([size, size, 6]);
    let opaque = 0;
    for (let y = 0; y < size; y++) {
      const row = y * (1 + size * 4);
      for (let x = 0; x < size; x++) {
        const [r, g, b, a] = raw.subarray(row + 1 + x * 4, row + 5 + x * 4);
        expect([r, g, b]).toEqual([0, 0, 0]);
        if (a! > 128) opaque++;
      }
    }
    // A glyph, not a blank or a filled square.
    expect(opaque).toBeGreaterThan(size * size * 0.1);
    expect(opaque).toBeLessThan(size * size * 0.7);
  });

  it('are exactly what the generator draws', () => {
    execFileSync(process.execPath, [join(REPO_ROOT, 'build', 'generate-tray-icons.mjs'), out]);
    for (const [file] of FILES) {
      expect(
        readFileSync(join(out, file)).equals(readFileSync(join(REPO_ROOT, 'build', file))),
      ).toBe(true);
    }
  });
});
