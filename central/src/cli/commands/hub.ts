import {
  clockFromEnv,
  createLogger,
  rotatingFile,
  type RotatingFileOptions,
  sdNotifier,
  stopOnSignals,
  isLoopbackHost,
  LOG_LEVELS,
  parseHostPort,
  TbCodes,
  TbError,
  TEST_CLOCK_ENV,
} from '@tillbridge/shared';
import { redactUrl } from '../../storage/index.js';
import { AMQP_URL_ENV, checkAmqpUrl, checkExchange, DEFAULT_EXCHANGE } from '../../feed/amqp-relay.js';
import { parseRetentionDays } from '../../audit/retention.js';
import { examplesHelp, parseDuration, parseRate } from '../format.js';
import { initHub, isInitialized, notInitialized, startHub } from '../../hub.js';
import { DEFAULT_GATE } from '../../auth/gate.js';
import { consoleCliOptions, consoleSettings } from '../../console/config.js';
import { type Command, Option } from 'commander';
import { act, dataOpt, databaseOf, databaseOpt, print, type CliContext } from '../context.js';

export function hubCommands(ctx: CliContext): void {
  initCommand(ctx.program);
  serveCommand(ctx.program);
}

function initCommand(program: Command): void {
  program
    .command('init')
    .description("create the hub's database and print the first admin token (shown once)")
    .addOption(dataOpt())
    .addOption(databaseOpt())
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\n' +
        'Examples:\n' +
        '  tillbridge-hub init --data /var/lib/tillbridge-hub --json\n' +
        '  tillbridge-hub init --data /var/lib/tillbridge-hub --database ' +
        'postgres://tillbridge@db.example:5432/tillbridge\n' +
        '\n' +
        "With --database, the data directory holds hub.secret: copy it to every other hub process's data " +
        'directory.',
    )
    .action(
      act((opts: { data: string; database?: string; json?: boolean }) => {
        const database = databaseOf(opts.database);
        const log = createLogger({ name: 'tillbridge-hub', level: 'warn' });
        const { adminToken } = initHub(opts.data, log, undefined, database);
        const where = database ? `the database ${redactUrl(database)} (secret in ${opts.data})` : opts.data;
        print(
          opts.json,
          { adminToken },
          () =>
            `hub created in ${where}\n` +
            `admin token (shown once, keep it safe): ${adminToken}\n` +
            `\n` +
            `export TILLBRIDGE_ADMIN_TOKEN=${adminToken}`,
        );
      }),
    );
}

function serveCommand(program: Command): void {
  program
    .command('serve')
    .description("serve the agents' WebSocket, the token endpoint and the admin API")
    .addOption(dataOpt())
    .addOption(databaseOpt())
    .addOption(
      new Option('--listen <host:port>', 'address to listen on').env('TILLBRIDGE_HUB_LISTEN').default('127.0.0.1:7400'),
    )
    .option('--token-ttl <duration>', 'lifetime of agent access tokens', '15m')
    .option(
      '--token-limit <count/duration>',
      'access tokens per store: COUNT at once, refilled evenly over DURATION (a request past it: 429 with Retry-After)',
      '10/5m',
    )
    .addOption(
      new Option('--tls-cert <file>', 'serve HTTPS and WSS with this certificate (PEM)').env('TILLBRIDGE_HUB_TLS_CERT'),
    )
    .addOption(new Option('--tls-key <file>', 'and this private key (PEM)').env('TILLBRIDGE_HUB_TLS_KEY'))
    .addOption(
      new Option(
        '--client-ca <file>',
        "check agents' client certificates against this CA (mutual TLS): a certificate names its store (CN)",
      ).env('TILLBRIDGE_HUB_CLIENT_CA'),
    )
    .option(
      '--require-client-cert',
      `agents must present a client certificate (with --client-ca; or ${REQUIRE_CLIENT_CERT_ENV}=1)`,
    )
    .option('--insecure', 'allow plain HTTP on an address other than loopback (a warning is logged at every start)')
    .addOption(consoleCliOptions.listen())
    .addOption(consoleCliOptions.cert())
    .addOption(consoleCliOptions.key())
    .addOption(
      new Option('--log-level <level>', 'how much to log')
        .choices(LOG_LEVELS)
        .env('TILLBRIDGE_HUB_LOG_LEVEL')
        .default('info'),
    )
    .option(
      '--log-file <file>',
      'also write the logs to this file, rotated by size (for machines where nothing captures stdout)',
    )
    .option('--log-max-size <mb>', 'rotate the log file at this size, in megabytes (1-1024)', '10')
    .option('--log-keep <n>', 'rotated log files kept (FILE.1 … FILE.N, 1-100)', '5')
    .option(
      '--audit-retention <days>',
      'keep audit entries this many days, at least 90; pruned only up to a signed checkpoint (docs/audit.md)',
      '400d',
    )
    .option('--webhook-timeout <duration>', 'how long one webhook request may take', '15s')
    .option(
      '--amqp-url <url>',
      `relay the ERP feed to this RabbitMQ broker (amqp:// or amqps://; or ${AMQP_URL_ENV}); docs/erp-feed.md`,
    )
    .option('--amqp-exchange <name>', 'the durable topic exchange the feed is published to', DEFAULT_EXCHANGE)
    .option(
      '--webhook-lease <duration>',
      'how long a webhook delivery stays leased to the hub process attempting it; a process that dies ' +
        'mid-attempt leaves it to the others after this (default: the timeout + 60s)',
    )
    .addHelpText(
      'after',
      '\n' +
        'Plain HTTP is refused on any address but loopback unless --insecure is given.\n' +
        'Under systemd, /etc/tillbridge/hub.env sets these through TILLBRIDGE_HUB_* variables ' +
        '(installers/hub.env.example).\n' +
        examplesHelp(
          'tillbridge-hub serve --data /var/lib/tillbridge-hub --listen 0.0.0.0:7400 --tls-cert ' +
            '/etc/tillbridge/hub.pem --tls-key /etc/tillbridge/hub-key.pem',
          'tillbridge-hub serve --data ./hub --listen 127.0.0.1:7400',
        ),
    )
    .action(act(serveHub));
}

interface ServeOptions {
  data: string;
  database?: string;
  listen: string;
  tokenTtl: string;
  tokenLimit: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  requireClientCert?: boolean;
  insecure?: boolean;
  console?: string;
  consoleTlsCert?: string;
  consoleTlsKey?: string;
  logLevel: string;
  logFile?: string;
  logMaxSize: string;
  logKeep: string;
  auditRetention: string;
  webhookTimeout: string;
  webhookLease?: string;
  amqpUrl?: string;
  amqpExchange: string;
}

/** `serve`: check the options, then run the hub until a signal stops it. */
async function serveHub(opts: ServeOptions): Promise<void> {
  const { listen, tokenTtl, tokenLimit, auditRetentionDays, requireClientCert, webhooks, amqp, database, consoleAt } =
    serveSettings(opts);
  const { clock, log } = serveLogger(opts, listen.host);
  const hubOpts: Parameters<typeof startHub>[0] = {
    dataDir: opts.data,
    database,
    host: listen.host,
    port: listen.port,
    tokenLifetimeSec: Math.max(2, Math.round(tokenTtl / 1000)),
    log,
    auditRetentionDays,
    clock,
    gate: { ...DEFAULT_GATE, tokenBurst: tokenLimit.count, tokenPeriodMs: tokenLimit.periodMs },
    webhooks,
  };
  if (amqp) hubOpts.amqp = amqp;
  if (consoleAt) hubOpts.console = consoleAt;
  if (opts.tlsCert && opts.tlsKey) {
    hubOpts.tls = { certFile: opts.tlsCert, keyFile: opts.tlsKey, requireClientCert };
    if (opts.clientCa) hubOpts.tls.clientCaFile = opts.clientCa;
  }
  const started = stopOnSignals('hub', log);
  // under systemd (Type=notify): READY=1 once listening, the watchdog, STOPPING=1 (docs/services.md)
  const notify = sdNotifier(process.env, {
    onError: (err) => log.warn({ err }, 'systemd notification failed'),
  });
  log.info({ data: opts.data, database: database ? redactUrl(database) : 'sqlite' }, 'starting');
  const hub = await startHub(hubOpts);
  // STOPPING=1 goes out while it stops (a slow systemd-notify does not hold the stop up), before the process
  // exits
  started({
    stop: async () => {
      const said = notify.stopping('stopping');
      await hub.stop();
      await said;
    },
  });
  await notify.ready(`listening on ${hub.url}`);
}

/** The options of `serve` parsed and checked against each other (a config error names the bad one). */
function serveSettings(opts: ServeOptions) {
  const auditRetentionDays = parseRetentionDays(opts.auditRetention);
  const listen = namedOption(LISTEN_FLAG, () => parseHostPort(opts.listen));
  const tokenTtl = namedOption('--token-ttl', () => parseDuration(opts.tokenTtl));
  const tokenLimit = namedOption('--token-limit', () => parseRate(opts.tokenLimit));
  const requireClientCert = opts.requireClientCert ?? envFlag(process.env, REQUIRE_CLIENT_CERT_ENV);
  const webhooks = webhookTiming(opts.webhookTimeout, opts.webhookLease);
  const amqp = amqpOptions(opts.amqpUrl, opts.amqpExchange, process.env);
  const database = databaseOf(opts.database);
  if (!isInitialized(opts.data, database)) throw notInitialized(opts.data, database);
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey))
    throw new TbError(TbCodes.CONFIG, '--tls-cert and --tls-key go together');
  if ((opts.clientCa || requireClientCert) && !opts.tlsCert)
    throw new TbError(TbCodes.CONFIG, '--client-ca and --require-client-cert need --tls-cert and --tls-key');
  if (!opts.tlsCert && !isLoopbackHost(listen.host) && !opts.insecure) {
    throw new TbError(
      TbCodes.CONFIG,
      `${LISTEN_FLAG}: refusing plain HTTP on ${opts.listen}: give --tls-cert and --tls-key (try \`tillbridge-hub ` +
        `certs dev\`), listen on 127.0.0.1, or pass --insecure`,
    );
  }
  const consoleAt = consoleSettings({ ...opts, listen });
  return { listen, tokenTtl, tokenLimit, auditRetentionDays, requireClientCert, webhooks, amqp, database, consoleAt };
}

/** How a config error names the listening address, which either the flag or hub.env's variable sets. */
const LISTEN_FLAG = '--listen (TILLBRIDGE_HUB_LISTEN)';

/** `parse()`'s value; what it throws becomes a config error that starts with the option's name. */
function namedOption<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new TbError(TbCodes.CONFIG, `${name}: ${(err as Error).message}`);
  }
}

/** The hub's clock and logger; warns at start about a test clock or plain HTTP beyond loopback. */
function serveLogger(
  opts: ServeOptions,
  host: string,
): { clock: ReturnType<typeof clockFromEnv>['clock']; log: ReturnType<typeof createLogger> } {
  const { clock, test } = clockFromEnv(process.env);
  const log = createLogger({
    name: 'tillbridge-hub',
    level: opts.logLevel,
    ...logDestination(opts.logFile, opts.logMaxSize, opts.logKeep),
  });
  if (test) log.warn({ startsAt: test }, `TEST CLOCK: ${TEST_CLOCK_ENV} is set; this hub's clock is not the system's`);
  if (!opts.tlsCert && !isLoopbackHost(host))
    log.warn(
      { listen: opts.listen },
      'INSECURE: serving plain HTTP beyond this machine (--insecure); API keys, tokens and store data ' +
        'cross the network unencrypted',
    );
  return { clock, log };
}

/** --require-client-cert's variable: a flag, so it is read here (commander would take any value, even 0, as "on"). */
export const REQUIRE_CLIENT_CERT_ENV = 'TILLBRIDGE_HUB_REQUIRE_CLIENT_CERT';

/**
 * A yes/no environment variable: 1/true/yes/on or 0/false/no/off (or unset/empty: no); anything else is a config error
 * naming it.
 */
export function envFlag(env: NodeJS.ProcessEnv, name: string): boolean {
  const v = (env[name] ?? '').trim().toLowerCase();
  if (v === '' || v === '0' || v === 'false' || v === 'no' || v === 'off') return false;
  if (v === '1' || v === 'true' || v === 'yes' || v === 'on') return true;
  throw new TbError(TbCodes.CONFIG, `${name}: expected 1, true, yes or on (or 0, false, no, off), got "${env[name]}"`);
}

/**
 * --amqp-url (else TILLBRIDGE_AMQP_URL) and --amqp-exchange: undefined when no broker is given.
 * A bad URL is a config error naming where it came from; the password never appears in it.
 */
export function amqpOptions(
  flag: string | undefined,
  exchange: string,
  env: NodeJS.ProcessEnv,
): { url: string; exchange: string } | undefined {
  const fromEnv = env[AMQP_URL_ENV];
  const url = flag ?? (fromEnv === '' ? undefined : fromEnv);
  if (url === undefined) return undefined;
  checkAmqpUrl(url, flag !== undefined ? '--amqp-url' : AMQP_URL_ENV);
  return { url, exchange: checkExchange(exchange, '--amqp-exchange') };
}

/**
 * --webhook-timeout and --webhook-lease: a lease must outlast an attempt (its request's timeout),
 * or another hub process would send a delivery again while this one still waits for its answer.
 */
export function webhookTiming(timeout: string, lease: string | undefined): { timeoutMs: number; leaseMs: number } {
  let timeoutMs: number;
  let leaseMs: number;
  try {
    timeoutMs = parseDuration(timeout);
  } catch (err) {
    throw new TbError(TbCodes.CONFIG, `--webhook-timeout: ${(err as Error).message}`);
  }
  if (timeoutMs < 100) throw new TbError(TbCodes.CONFIG, `--webhook-timeout: at least 100ms, got "${timeout}"`);
  try {
    leaseMs = lease === undefined ? timeoutMs + 60_000 : parseDuration(lease);
  } catch (err) {
    throw new TbError(TbCodes.CONFIG, `--webhook-lease: ${(err as Error).message}`);
  }
  if (leaseMs <= timeoutMs)
    throw new TbError(
      TbCodes.CONFIG,
      `--webhook-lease (${lease}) must be longer than --webhook-timeout (${timeout}): a delivery is ` +
        `leased for the whole attempt`,
    );
  return { timeoutMs, leaseMs };
}

/** --log-file (with --log-max-size and --log-keep): a file the logs go to as well as stdout, rotated by size. */
export function logDestination(
  file: string | undefined,
  maxSize: string,
  keep: string,
): { file?: RotatingFileOptions } {
  if (file === undefined) return {};
  const mb = Number(maxSize);
  if (!Number.isFinite(mb) || mb < 1 || mb > 1024)
    throw new TbError(TbCodes.CONFIG, `--log-max-size: expected a size in megabytes from 1 to 1024, got "${maxSize}"`);
  const n = Number(keep);
  if (!Number.isInteger(n) || n < 1 || n > 100)
    throw new TbError(TbCodes.CONFIG, `--log-keep: expected a whole number of files from 1 to 100, got "${keep}"`);
  try {
    const opts = { file, maxBytes: mb * 1024 * 1024, keep: n };
    rotatingFile(opts).end(); // can it be opened? say so naming the option
    return { file: opts };
  } catch (err) {
    throw new TbError(
      TbCodes.CONFIG,
      `--log-file: cannot open ${file} for writing (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}
