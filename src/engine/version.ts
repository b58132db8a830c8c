import { readFileSync } from 'node:fs';

// package.json sits two levels above both src/cli and dist/cli.
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
export const VERSION: string = pkg.version;
