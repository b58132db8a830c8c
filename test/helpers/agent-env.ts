import { keygate } from './keygate-process.js';

/** Parses `keygate env` (sh) into a variable map. */
export function agentEnvironment(home: string, agent = 'default'): Record<string, string> {
  const result = keygate(['env', '--agent', agent], { home });
  if (result.status !== 0) throw new Error(`keygate env failed: ${result.stderr}`);
  const env: Record<string, string> = {};
  for (const line of result.stdout.trim().split('\n')) {
    const match = /^export ([A-Za-z_][A-Za-z0-9_]*)='(.*)'$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined)
      env[match[1]] = match[2].replace(/'\\''/g, "'");
  }
  return env;
}
