// Builds every part that exists: the engine and CLI (always), the settings UI (browser ESM plus
// its static files), and the Electron shell (type-checked against the real electron.d.ts).
// One entry point so `npm run build`, the test setup and CI build the same way.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  electron: () => {
    compile('tsconfig.electron.json');
    compile('tsconfig.preload.json');
  },
};

// A full build starts from an empty dist/: a module moved or deleted in src/ must not live on
// there, where a test could still import it and pass (a local run once hid a CI failure so).
if (only.length === 0) rmSync(join(root, 'dist'), { recursive: true, force: true });

for (const [name, step] of Object.entries(steps)) {
  if (only.length === 0 || only.includes(name)) step();
}
