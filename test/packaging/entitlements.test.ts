/**
 * The hardened-runtime entitlements are a short, justified list (build/entitlements.mac.plist
 * explains each key; docs/macos.md too). A key added without updating this list fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/keygate-process.js';

function keys(file: string): string[] {
  const xml = readFileSync(join(REPO_ROOT, 'build', file), 'utf8').replace(/<!--[\s\S]*?-->/g, '');
  return [...xml.matchAll(/<key>([^<]+)<\/key>\s*<true\s*\/>/g)].map((m) => m[1]!);
}

describe('entitlements', () => {
  it('main app: JIT for V8/WASM, and library validation off for the 1Password app bridge', () => {
    expect(keys('entitlements.mac.plist')).toEqual([
      'com.apple.security.cs.allow-jit',
      'com.apple.security.cs.disable-library-validation',
    ]);
  });

  it('helpers: JIT only', () => {
    expect(keys('entitlements.mac.inherit.plist')).toEqual(['com.apple.security.cs.allow-jit']);
  });

  it('electron-builder.yml uses both files, with the hardened runtime', () => {
    const yml = readFileSync(join(REPO_ROOT, 'electron-builder.yml'), 'utf8');
    expect(yml).toMatch(/^ {2}hardenedRuntime: true$/m);
    expect(yml).toMatch(/^ {2}entitlements: build\/entitlements\.mac\.plist$/m);
    expect(yml).toMatch(/^ {2}entitlementsInherit: build\/entitlements\.mac\.inherit\.plist$/m);
    expect(yml).toMatch(/^appId: dev\.keygate\.app$/m);
    expect(yml).not.toMatch(/^\s*electronDist:/m);
  });
});
