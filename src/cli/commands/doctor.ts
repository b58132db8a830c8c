import { execFileSync } from 'node:child_process';
import type { Command } from 'commander';
import { agentPreloadUrl } from '../../engine/agent-env.js';
import { NODE_COVERAGE, nodeProxyRoute } from '../../engine/agent-preload/coverage.js';
import { dispatch } from '../../engine/dispatch.js';
import { withController, type GlobalOptions } from '../cli-context.js';

interface Check {
  ok: boolean;
  name: string;
  detail: string;
}

/** The `node` agents would run, if any: its version from `node --version`. */
function nodeOnPath(): string | undefined {
  try {
    return execFileSync('node', ['--version'], { encoding: 'utf8', timeout: 5_000 }).trim();
  } catch {
    return undefined;
  }
}

/**
 * Which Node versions `keygate run` / `keygate env` cover, and whether the `node` on PATH is
 * one of them (agent-preload/coverage.ts).
 */
export function nodeAgentsCheck(
  preload = agentPreloadUrl(),
  version: string | undefined = nodeOnPath(),
): Check {
  const route = version ? nodeProxyRoute(version) : undefined;
  const onPath =
    version === undefined
      ? 'no node on PATH'
      : route === 'native'
        ? `node ${version} on PATH honours the proxy itself`
        : route === 'preload'
          ? `node ${version} on PATH goes through the Keygate preload`
          : `node ${version} on PATH is too old: its fetch would bypass Keygate`;
  if (!preload)
    return {
      ok: route === 'native' || route === undefined,
      name: 'node agents',
      detail: `${onPath}; the Keygate preload is missing, so Node below 22.21 bypasses Keygate`,
    };
  return {
    ok: route !== 'not-covered',
    name: 'node agents',
    detail: `${onPath}. ${NODE_COVERAGE}`,
  };
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the port, the CA, every mapping and its secret source')
    .action(async (_options: unknown, command: Command) => {
      const checks: Check[] = await withController(command.optsWithGlobals<GlobalOptions>(), (c) =>
        dispatch(c.handlers, 'doctor.run'),
      );
      checks.push(nodeAgentsCheck());
      for (const check of checks)
        process.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}\n`);
      if (checks.some((check) => !check.ok)) process.exitCode = 1;
    });
}
