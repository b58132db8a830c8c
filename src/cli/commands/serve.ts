import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { checkStartOptions } from '../../engine/keygate-engine.js';
import { createLogger, parseLogLevel } from '../../engine/log/logger.js';
import { EngineSupervisor } from '../../engine/supervisor/engine-supervisor.js';
import { openStore, resolveHome, type GlobalOptions } from '../cli-context.js';
import { problemLog } from '../problem-log.js';
import {
  collect,
  parseLogLevelOption,
  parsePort,
  parseSecretTtl,
  secondsParser,
} from '../parsers.js';

interface ServeOptions extends GlobalOptions {
  host?: string;
  port?: number;
  upstreamCa: string[];
  connectTo: string[];
  dnsServer: string[];
  denyUnmapped?: boolean;
  logLevel?: string;
  ui?: boolean;
  uiPort?: number;
  secretTtl?: number;
  connectTimeout?: number;
  idleTimeout?: number;
  approvalTimeout?: number;
}

/** The resolver's own defaults: values 60 s, "not found" 30 s (secret-resolver.ts). */
const NEGATIVE_TTL_MS = 30_000;

/** The built settings UI, next to the CLI in dist/. */
const RENDERER_DIR = fileURLToPath(new URL('../../renderer/', import.meta.url));

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the proxy in the foreground (headless: Linux, CI, containers)')
    .option('--host <host>', 'address to listen on (default from settings: 127.0.0.1)')
    .option(
      '--port <port>',
      'port to listen on (default from settings: 8790; 0 picks a free one)',
      parsePort,
    )
    .option('--upstream-ca <file>', 'also trust this CA for upstreams (repeatable)', collect, [])
    .option(
      '--connect-to <HOST:PORT:ADDR:PORT>',
      "dial ADDR:PORT for HOST:PORT, like curl's (repeatable)",
      collect,
      [],
    )
    .option(
      '--dns-server <ip[:port]>',
      'resolve hosts without a mapping with this DNS server (repeatable; default: the system’s)',
      collect,
      [],
    )
    .option('--deny-unmapped', 'answer 403 for hosts without a mapping instead of tunneling them')
    .option(
      '--secret-ttl <seconds>',
      'reuse a resolved secret for this long (1-3600, default 60); shorter notices a rotated or deleted secret sooner, at more 1Password reads',
      parseSecretTtl,
    )
    .option(
      '--connect-timeout <seconds>',
      'give up dialling an upstream (TCP + TLS) after this long (1-300, default 10)',
      secondsParser(1, 300),
    )
    .option(
      '--idle-timeout <seconds>',
      'cut an upstream silent this long before or during its response (1-86400, default 600: models think slowly)',
      secondsParser(1, 86_400),
    )
    .option(
      '--approval-timeout <seconds>',
      'how long a request of an agent that asks waits for your answer (1-3600, default 120)',
      secondsParser(1, 3600),
    )
    .option(
      '--log-level <level>',
      'error | warn | info | debug (default: $KEYGATE_LOG or info)',
      parseLogLevelOption,
    )
    .option('--ui', 'also serve the settings UI on 127.0.0.1 (prints its link, with a token)')
    .option(
      '--ui-port <port>',
      'port for the settings UI (implies --ui; default: a free one)',
      parsePort,
    )
    .action(async (options: ServeOptions, command: Command) => {
      const globals = command.optsWithGlobals<ServeOptions>();
      const logger = createLogger({
        level: parseLogLevel(options.logLevel ?? process.env.KEYGATE_LOG),
      });
      const home = resolveHome(globals);
      const withUi = options.ui === true || options.uiPort !== undefined;
      if (withUi && !existsSync(`${RENDERER_DIR}index.html`)) {
        process.stderr.write('keygate: the settings UI is not built (npm run build)\n');
        process.exitCode = 1;
        return;
      }
      // Bad options touch nothing: refused before the home is opened (or created).
      await checkStartOptions({
        ...(options.host !== undefined ? { host: options.host } : {}),
        upstreamCaFiles: options.upstreamCa,
        connectTo: options.connectTo,
        dnsServers: options.dnsServer,
      });
      // Opened once here so a corrupt settings file is reported like every other command does,
      // on stderr whatever the log level, before the engine opens the file itself.
      const store = openStore(home);
      // `serve` is an explicit request to proxy: turn the listener on if the app left it off.
      if (!store.get().proxy.enabled) {
        store.update((draft) => {
          draft.proxy.enabled = true;
        });
        process.stderr.write('keygate: the proxy was disabled in settings; serve enables it\n');
      }
      store.close();
      const supervisor = await EngineSupervisor.start({
        engine: {
          home,
          ...(options.host !== undefined ? { host: options.host } : {}),
          ...(options.port !== undefined ? { port: options.port } : {}),
          upstreamCaFiles: options.upstreamCa,
          connectTo: options.connectTo,
          dnsServers: options.dnsServer,
          denyUnmapped: options.denyUnmapped === true,
          timeouts: {
            ...(options.connectTimeout !== undefined
              ? { connectMs: options.connectTimeout * 1000 }
              : {}),
            ...(options.idleTimeout !== undefined
              ? { upstreamIdleMs: options.idleTimeout * 1000 }
              : {}),
          },
          ...(options.approvalTimeout !== undefined
            ? { approvalTimeoutMs: options.approvalTimeout * 1000 }
            : {}),
          ...(options.secretTtl !== undefined
            ? {
                resolver: {
                  ttlMs: options.secretTtl * 1000,
                  // "Not found" is never remembered longer than a value would be.
                  negativeTtlMs: Math.min(NEGATIVE_TTL_MS, options.secretTtl * 1000),
                },
              }
            : {}),
          logger,
        },
        // The control server always listens, for `keygate approvals/approve/deny` (serve.json
        // has its token); the page itself and the full-power token only with --ui.
        control: {
          ...(options.uiPort !== undefined ? { port: options.uiPort } : {}),
          ...(withUi ? { staticDir: RENDERER_DIR } : {}),
        },
        ...problemLog(logger),
      });
      const { engine, control: ui } = supervisor;
      const status = await supervisor.handlers['proxy.status']();
      // Listening for the signals before saying we listen: a script that reads the line below may
      // signal at once, and a signal with no listener yet would kill serve uncleanly (CI hit it).
      const stopped = new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          logger.info('stopping', { signal });
          supervisor.stop().then(
            () => resolve(),
            (err: unknown) => {
              logger.error('error while stopping', { err });
              resolve();
            },
          );
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      // The first line on stdout: scripts wait for it.
      process.stdout.write(`keygate listening on ${engine.address}\n`);
      // SECRET: the UI token, printed once, in the fragment (never sent to a server or a Referer).
      if (withUi) process.stdout.write(`keygate settings at ${ui.launchUrl}\n`);
      process.stderr.write(
        `keygate: ${status.mappings} mapping(s), ${status.agents} agent(s); set up an agent with \`keygate env\` or \`keygate run -- CMD\`\n`,
      );
      await stopped;
    });
}
