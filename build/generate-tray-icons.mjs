// Generates the menu-bar template icons: black plus alpha, so macOS tints them for light and dark
// menu bars (the "Template" suffix tells it to). One glyph, a key, in three states:
//   trayTemplate       the proxy is listening (a solid key)
//   trayOffTemplate    the proxy is off (a faded key, struck through)
//   trayErrorTemplate  something is wrong (the key with an exclamation mark)
//   trayWaitingTemplate  a request waits for the user's approval (the key with a badge dot)
// Each at 16×16 and 32×32 (@2x). Shapes are drawn on a 32-unit grid and supersampled, so the
// edges are antialiased at both sizes. Run: node build/generate-tray-icons.mjs [OUT_DIR]
// (test/main/tray-icons.test.ts regenerates them into a temp dir and compares the bytes).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const outDir = process.argv[2] ?? dirname(fileURLToPath(import.meta.url));
const GRID = 32;
const SUPERSAMPLE = 8;

// --- shapes on the 32-unit grid; each returns true when the point is inside -------------------
const circle = (cx, cy, r) => (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
const rect = (x0, y0, x1, y1) => (x, y) => x >= x0 && x < x1 && y >= y0 && y < y1;
const union =
  (...shapes) =>
  (x, y) =>
    shapes.some((s) => s(x, y));
const minus = (a, b) => (x, y) => a(x, y) && !b(x, y);
/** A thick segment from (x0,y0) to (x1,y1). */
const segment = (x0, y0, x1, y1, half) => (x, y) => {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const t = Math.max(0, Math.min(1, ((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)));
  return (x - (x0 + t * dx)) ** 2 + (y - (y0 + t * dy)) ** 2 <= half * half;
};

function key(scale = 1, ox = 0, oy = 0) {
  const s = (v) => v * scale;
  const ring = minus(circle(ox + s(9), oy + s(16), s(7)), circle(ox + s(9), oy + s(16), s(3.2)));
  const shaft = rect(ox + s(15), oy + s(14.2), ox + s(29), oy + s(17.8));
  const tooth1 = rect(ox + s(22.5), oy + s(17.8), ox + s(25), oy + s(22));
  const tooth2 = rect(ox + s(26.5), oy + s(17.8), ox + s(29), oy + s(21));
  return union(ring, shaft, tooth1, tooth2);
}

// Each layer: [shape, alpha]. Later layers paint over earlier ones; `clear` erases.
const GLYPHS = {
  trayTemplate: [[key(), 1]],
  trayOffTemplate: [
    [key(), 0.45],
    ['clear', segment(4, 28, 28, 4, 3.4)],
    [segment(4, 28, 28, 4, 1.6), 1],
  ],
  trayErrorTemplate: [
    [key(0.82, 0, 4.5), 1],
    ['clear', rect(24, 0, 32, 17)],
    [rect(26, 0, 30, 10), 1],
    [rect(26, 12, 30, 16), 1],
  ],
  trayWaitingTemplate: [
    [key(0.82, 0, 4.5), 1],
    ['clear', circle(25, 7, 7.5)],
    [circle(25, 7, 5.5), 1],
  ],
};

function render(layers, size) {
  const alpha = new Float64Array(size * size);
  const unit = GRID / size;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let total = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          const x = (px + (sx + 0.5) / SUPERSAMPLE) * unit;
          const y = (py + (sy + 0.5) / SUPERSAMPLE) * unit;
          let a = 0;
          for (const layer of layers) {
            if (layer[0] === 'clear') {
              if (layer[1](x, y)) a = 0;
            } else if (layer[0](x, y)) {
              a = layer[1];
            }
          }
          total += a;
        }
      }
      alpha[py * size + px] = total / (SUPERSAMPLE * SUPERSAMPLE);
    }
  }
  return alpha;
}

// --- PNG encoding: 8-bit RGBA, filter 0 on every row --------------------------------------------
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function encodePng(alpha, size) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (1 + size * 4));
  for (let y = 0; y < size; y++) {
    const row = y * (1 + size * 4);
    raw[row] = 0;
    for (let x = 0; x < size; x++) {
      // Black; only the alpha channel carries the glyph.
      raw[row + 1 + x * 4 + 3] = Math.round((alpha[y * size + x] ?? 0) * 255);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

for (const [name, layers] of Object.entries(GLYPHS)) {
  for (const [suffix, size] of [
    ['', 16],
    ['@2x', 32],
  ]) {
    const file = join(outDir, `${name}${suffix}.png`);
    writeFileSync(file, encodePng(render(layers, size), size));
  }
}
