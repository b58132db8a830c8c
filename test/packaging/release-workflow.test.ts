/**
 * The macOS release workflow cannot run here (no Mac), so its shape is checked instead: it runs
 * on an arm64 hosted Mac, runs the suite, packages, reads the fuses back, and smoke-tests the app
 * with the script in this repository, which smoke-script.test.ts runs against `keygate serve`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/keygate-process.js';

// js-yaml comes with electron-builder (it reads electron-builder.yml with it).
const yaml = createRequire(import.meta.url)('js-yaml') as { load(text: string): unknown };

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
}
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, { 'runs-on': string; steps: Step[] }>;
}

const FILE = join(REPO_ROOT, '.github', 'workflows', 'release-macos.yml');
const workflow = yaml.load(readFileSync(FILE, 'utf8')) as Workflow;
const job = workflow.jobs.mac!;
const runs = job.steps.map((s) => s.run ?? '');
const indexOf = (pattern: RegExp) => runs.findIndex((run) => pattern.test(run));

describe('.github/workflows/release-macos.yml', () => {
  it('runs on a hosted arm64 Mac for release tags', () => {
    expect(job['runs-on']).toBe('macos-latest');
    expect(Object.keys(workflow.on)).toContain('push');
  });

  it('installs, tests, packages, reads the fuses, then smoke-tests, in that order', () => {
    const order = [
      /^npm ci$/,
      /^npm test$/,
      /npm run package:mac/,
      /npx @electron\/fuses read --app release\/mac-arm64\/Keygate\.app/,
      /node scripts\/smoke\.mjs/,
    ].map(indexOf);
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('signs and notarizes only with the secrets, and packages unsigned without them', () => {
    const signed = job.steps.find((s) => s.name === 'package (signed and notarized)');
    const unsigned = job.steps.find((s) => s.name === 'package (unsigned)');
    expect(signed?.if).toBe("env.HAS_SIGNING == 'true'");
    expect(signed?.env?.CSC_LINK).toBe('${{ secrets.CSC_LINK }}');
    expect(unsigned?.if).toBe("env.HAS_SIGNING != 'true'");
    expect(unsigned?.run).toContain('-c.mac.identity=null');
  });

  it('asserts every fuse electron-builder.yml flips', () => {
    const fuses = runs[indexOf(/@electron\/fuses read/)]!;
    for (const line of [
      'RunAsNode is Disabled',
      'EnableNodeOptionsEnvironmentVariable is Disabled',
      'EnableNodeCliInspectArguments is Disabled',
      'EnableEmbeddedAsarIntegrityValidation is Enabled',
      'OnlyLoadAppFromAsar is Enabled',
    ])
      expect(fuses).toContain(line);
  });

  it("smoke-tests the packaged app's binary with the repository's script", () => {
    const smoke = runs[indexOf(/node scripts\/smoke\.mjs/)]!;
    expect(existsSync(join(REPO_ROOT, 'scripts', 'smoke.mjs'))).toBe(true);
    expect(smoke).toContain('release/mac-arm64/Keygate.app/Contents/MacOS/Keygate');
  });
});
