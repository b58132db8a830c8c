// Builds every part that exists: the engine and CLI (always), the settings UI (browser ESM plus
// its static files), and the Electron shell (type-checked against the real electron.d.ts).
// One entry point so `npm run build`, the test setup and CI build the same way.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const only = process.argv.slice(2);

function compile(config) {
  if (!existsSync(join(root, config))) return;
  execFileSync(process.execPath, [tsc, '-p', config], { cwd: root, stdio: 'inherit' });
}

const steps = {
  engine: () => compile('tsconfig.build.json'),
  renderer: () => {
    compile('tsconfig.renderer.json');
    // Static files (HTML, CSS, images) ship next to the compiled modules.
    const from = join(root, 'src', 'renderer');
    const to = join(root, 'dist', 'renderer');
    if (!existsSync(from)) return;
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(from)) {
      if (/\.(html|css|svg|png|ico)$/.test(name)) cpSync(join(from, name), join(to, name));
    }
  },
  electron: async () => {
    compile('tsconfig.electron.json');
    compile('tsconfig.preload.json');
    await writePreloadOperations();
  },
};

/**
 * A sandboxed preload can require nothing of ours, so its list of operations is written into it
 * from the contract (dist/shared/api.js, compiled with the shell just before): never a hand copy.
 */
async function writePreloadOperations() {
  const preload = join(root, 'dist', 'preload', 'preload.cjs');
  if (!existsSync(preload)) return;
  // tsc keeps the comment but may re-space the brackets around it.
  const marker = /\[\s*\/\* API_OPERATIONS \*\/\s*\]/g;
  const source = readFileSync(preload, 'utf8');
  if (source.match(marker)?.length !== 1) {
    throw new Error(`${preload}: expected the [/* API_OPERATIONS */] placeholder exactly once`);
  }
  const api = await import(pathToFileURL(join(root, 'dist', 'shared', 'api.js')).href);
  writeFileSync(preload, source.replace(marker, JSON.stringify(api.API_OPERATIONS)));
}

// A full build starts from an empty dist/: a module moved or deleted in src/ must not live on
// there, where a test could still import it and pass (a local run once hid a CI failure so).
if (only.length === 0) rmSync(join(root, 'dist'), { recursive: true, force: true });

for (const [name, step] of Object.entries(steps)) {
  if (only.length === 0 || only.includes(name)) await step();
}
