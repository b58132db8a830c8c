/**
 * The engine in this process, for tests that watch its internals (sockets dialled, console
 * calls, listeners). Secrets come from a private env map, never the test process's environment.
 */
import { KeygateEngine, type EngineOptions } from '../../src/engine/keygate-engine.js';
import { Controller } from '../../src/engine/controller.js';
import { createLogger, type LogLevel } from '../../src/engine/log/logger.js';
import { EnvSecretSource } from '../../src/engine/secrets/env-source.js';
import type { MappingInput } from '../../src/shared/api.js';
import { tempHome } from './keygate-process.js';

export interface EngineFixture {
  readonly engine: KeygateEngine;
  readonly controller: Controller;
  readonly home: string;
  readonly logLines: string[];
  proxyUrl(agent?: string): string;
  stop(): Promise<void>;
}

export async function startEngine(options: {
  secrets: Record<string, string>;
  mappings?: MappingInput[];
  connectTo?: string[];
  upstreamCaFiles?: string[];
  logLevel?: LogLevel;
  extra?: Partial<EngineOptions>;
}): Promise<EngineFixture> {
  const home = tempHome('keygate-engine-');
  const logLines: string[] = [];
  const engine = await KeygateEngine.start({
    home: home.home,
    port: 0,
    connectTo: options.connectTo ?? [],
    upstreamCaFiles: options.upstreamCaFiles ?? [],
    sources: [new EnvSecretSource(options.secrets)],
    logger: createLogger({
      level: options.logLevel ?? 'debug',
      sink: (line) => logLines.push(line),
    }),
    ...options.extra,
  });
  const controller = new Controller({ store: engine.store, home: home.home, engine });
  for (const mapping of options.mappings ?? [])
    await controller.handlers['mappings.upsert'](mapping);
  return {
    engine,
    controller,
    home: home.home,
    logLines,
    proxyUrl: (agent = 'default') => {
      const found = engine.store.get().agents.find((a) => a.name === agent);
      if (!found) throw new Error(`no agent ${agent}`);
      return `http://${agent}:${found.token}@127.0.0.1:${engine.port}`;
    },
    stop: async () => {
      await engine.stop();
      home.cleanup();
    },
  };
}
