import { createLogger, parseHostPort, TbCodes, TbError } from '@tillbridge/shared';
import { parseDuration } from '../format.js';
import { initHub, isInitialized, startHub } from '../../hub.js';
import { act, dataOpt, EXIT, print, type CliContext } from '../context.js';

export function hubCommands(ctx: CliContext): void {
  const { program } = ctx;
  program
    .command('init')
    .description("create the hub's database and print the first admin token (shown once)")
    .addOption(dataOpt())
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub init --data /var/lib/tillbridge-hub --json')
    .action(
      act((opts: { data: string; json?: boolean }) => {
        const log = createLogger({ name: 'tillbridge-hub', level: 'warn' });
        const { adminToken } = initHub(opts.data, log);
        print(opts.json, { adminToken }, () => `hub created in ${opts.data}\nadmin token (shown once, keep it safe): ${adminToken}\n\nexport TILLBRIDGE_ADMIN_TOKEN=${adminToken}`);
      }),
    );

  program
    .command('serve')
    .description("serve the agents' WebSocket, the token endpoint and the admin API")
    .addOption(dataOpt())
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:7400')
    .option('--token-ttl <duration>', 'lifetime of agent access tokens', '15m')
    .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
    .addHelpText('after', '\nExample:\n  tillbridge-hub serve --data /var/lib/tillbridge-hub --listen 0.0.0.0:7400')
    .action(
      act(async (opts: { data: string; listen: string; tokenTtl: string; logLevel: string }) => {
        let listen;
        let tokenTtl;
        try {
          listen = parseHostPort(opts.listen);
          tokenTtl = parseDuration(opts.tokenTtl);
        } catch (err) {
          throw new TbError(TbCodes.CONFIG, `${(err as Error).message}`);
        }
        if (!isInitialized(opts.data)) throw new TbError(TbCodes.CONFIG, `no hub in ${opts.data}: run \`tillbridge-hub init --data ${opts.data}\` first`);
        const log = createLogger({ name: 'tillbridge-hub', level: opts.logLevel });
        const running = await startHub({ dataDir: opts.data, host: listen.host, port: listen.port, tokenLifetimeSec: Math.max(10, Math.round(tokenTtl / 1000)), log });
        let signals = 0;
        const shutdown = (sig: string): void => {
          if (++signals > 1) process.exit(EXIT.FAILURE);
          log.info({ signal: sig }, 'stopping');
          running.stop().then(() => process.exit(EXIT.OK), () => process.exit(EXIT.FAILURE));
        };
        process.on('SIGINT', () => shutdown('SIGINT'));
        process.on('SIGTERM', () => shutdown('SIGTERM'));
      }),
    );
}
