import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { existsSync } from 'node:fs';
import {
  answerRefusalsInHouseStyle,
  checkDataDir,
  ensurePrivateDir,
  TbCodes,
  TbError,
  TILLBRIDGE_VERSION,
  TOKEN_PATH,
  type Logger,
} from '@tillbridge/shared';
import { createSecret, secretPath } from './auth/secrets.js';
import { openHub, type Hub, type HubServiceOptions } from './hub-services.js';
import { adminRoutes } from './http/admin-api.js';
import { agentTokenRoute } from './http/agent-token.js';
import { certFingerprint, enrollmentRoutes } from './http/enroll.js';
import { httpStatusFor, Router, sendJson } from './http/router.js';
import { openHubStorage, storageExists, storageLocation } from './storage/index.js';
import { AgentEndpoint, DEFAULT_PROBE_MS, type HandshakeHooks } from './sync/agent-endpoint.js';
import { HubCluster } from './cluster/cluster.js';
import type { LiveSessionsOptions } from './cluster/live-sessions.js';
import { HubMetrics } from './metrics/hub-metrics.js';
import type { Clock } from './domain/clock.js';
import { auditOrigin } from './domain/audit-log.js';
import { loadOrCreateSigningKey } from './audit/signing-key.js';
import { loadTls, serverOptions, type HubTlsOptions } from './tls/server-tls.js';
import { rateLimited, retryAfterSec, sourceOf, type GateOptions } from './auth/gate.js';
import { startConsole, type ConsoleOptions, type RunningConsole } from './console/server.js';

/**
 * What the hub calls itself (health, audit, webhooks' User-Agent): its name and version (stamped into a release build).
 */
export const HUB_SOFTWARE = `tillbridge-hub/${TILLBRIDGE_VERSION}`;

/** How often what the hub holds of presence and heartbeats is written (one relaxed transaction per 500 rows). */
const DEFERRED_FLUSH_MS = 1000;

export interface HubOptions {
  dataDir: string;
  /** A PostgreSQL URL shared by several hub processes; default: the SQLite file in `dataDir`. */
  database?: string | undefined;
  host: string;
  port: number;
  tokenLifetimeSec?: number;
  /** How often lapsed reservations and due key rotations are swept (default 30 s). */
  sweepMs?: number;
  /** Keep audit entries this many days (default 400). */
  auditRetentionDays?: number;
  /** Serve HTTPS and WSS (and, with a client CA, check agents' client certificates). */
  tls?: HubTlsOptions;
  gate?: GateOptions;
  /** Large admin imports (defaults suit production; tests make chunks small). */
  imports?: HubServiceOptions['imports'];
  /** Group commit of the agents' event batches (events per commit; a seam for tests). */
  ingest?: HubServiceOptions['ingest'];
  /** How long an agent's open connection has to answer a ping when the same agent connects again (default 5 s). */
  agentProbeMs?: number;
  /**
   * Webhook requests: each attempt's timeout (default 15 s) and how long a delivery stays leased to this process
   * (default: the timeout + 60 s).
   */
  webhooks?: { timeoutMs?: number; leaseMs?: number };
  /** Seams in agents' handshakes, for tests (hold one at a step; hear the ones given up). */
  agentHandshake?: HandshakeHooks;
  /**
   * Many hub processes on one database: how often this one says it is alive, and when one unheard of stops counting
   * (defaults 2 s, 15 s).
   */
  processes?: LiveSessionsOptions;
  /**
   * Relay the ERP feed to RabbitMQ (docs/erp-feed.md#to-a-message-broker-rabbitmq): the broker's URL, the exchange
   * (default tillbridge.feed).
   */
  amqp?: HubServiceOptions['amqp'];
  /**
   * The operator console (docs/console.md) on a listener of its own: its address, its TLS certificate and key (none:
   * plain HTTP), and seams for tests.
   */
  console?: Omit<ConsoleOptions, 'tls'> & { tls?: { certFile: string; keyFile: string } | undefined };
  log: Logger;
  clock?: Clock;
  /** Elapsed time, for the latency of the decisions the hub makes (default monotonicClock; tests give their own). */
  elapsed?: Clock;
}

export interface RunningHub {
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  readonly hub: Hub;
  readonly metrics: HubMetrics;
  /** The bus to the other hub processes on the database, and what they hold. */
  readonly cluster: HubCluster;
  /** The operator console, when asked for (HubOptions.console). */
  readonly console: RunningConsole | undefined;
  stop(): Promise<void>;
}

export function isInitialized(dataDir: string, database?: string): boolean {
  return existsSync(secretPath(dataDir)) && storageExists(dataDir, database);
}

/** The error for a data directory or database that holds no hub yet. */
export function notInitialized(dataDir: string, database?: string): TbError {
  const where = database ? `${storageLocation(dataDir, database)} (with ${secretPath(dataDir)})` : dataDir;
  const how = database
    ? `tillbridge-hub init --data ${dataDir} --database <url>`
    : `tillbridge-hub init --data ${dataDir}`;
  const secret = existsSync(secretPath(dataDir));
  const hint =
    database && !secret && storageExists(dataDir, database)
      ? `; every hub process on one database needs the same hub.secret: ` +
        `copy it from the data directory of the process that ran init into ${dataDir}`
      : !database && secret
        ? ` (it holds hub.secret but no hub.sqlite: ` +
          `a hub on PostgreSQL? give its --database or TILLBRIDGE_HUB_DATABASE)`
        : `: run \`${how}\` first`;
  return new TbError(TbCodes.CONFIG, `no hub in ${where}${hint}`);
}

/**
 * The data directory's permissions (shared/src/data-dir-check.ts): refused (TB_CONFIG) when group
 * or others may write there; each warning logged when `log` is given.
 */
function checkHubDataDir(dataDir: string, log?: Logger): void {
  const findings = checkDataDir(dataDir);
  const error = findings.find((f) => f.level === 'error');
  if (error) throw new TbError(TbCodes.CONFIG, error.message);
  for (const f of findings) log?.warn({ dataDir }, f.message);
}

/** Creates the hub's database and secret, and the first admin token (printed once). */
export function initHub(dataDir: string, log: Logger, clock?: Clock, database?: string): { adminToken: string } {
  if (database ? storageExists(dataDir, database) : isInitialized(dataDir))
    throw new TbError(TbCodes.CONFLICT, `${storageLocation(dataDir, database)} already holds a hub`);
  if (existsSync(secretPath(dataDir)))
    throw new TbError(
      TbCodes.CONFLICT,
      `${dataDir} already holds a hub (its hub.secret)${database ? '' : ': a hub on PostgreSQL? give its --database'}`,
    );
  if (database) ensurePrivateDir(dataDir);
  checkHubDataDir(dataDir);
  openHubStorage(dataDir, { create: true, database }).close();
  createSecret(dataDir);
  // on a shared database, the key that signs the audit checkpoints is made now, so that it is
  // copied with hub.secret to the other processes before any of them signs (made on first use, a
  // key made later in one process's directory would be missing from the others')
  if (database) loadOrCreateSigningKey(dataDir);
  const hub = openHub({ dataDir, database, tokenLifetimeSec: 1, log, ...(clock ? { clock } : {}) });
  try {
    return hub.storage.tx(() => {
      const adminToken = hub.credentials.createAdminToken('admin', 'initial admin').secret;
      hub.audit.append({
        actor: 'hub',
        action: 'hub.init',
        outcome: 'created',
        resource: 'hub',
        details: { software: HUB_SOFTWARE },
        origin: 'cli:local',
      });
      return { adminToken };
    });
  } finally {
    hub.close();
  }
}

/** The hub's composition root: storage, services, the HTTP API, the agents' WebSocket. */
export async function startHub(opts: HubOptions): Promise<RunningHub> {
  if (!isInitialized(opts.dataDir, opts.database)) throw notInitialized(opts.dataDir, opts.database);
  const log = opts.log;
  checkHubDataDir(opts.dataDir, log);
  const serviceOpts: Parameters<typeof openHub>[0] = {
    dataDir: opts.dataDir,
    database: opts.database,
    tokenLifetimeSec: opts.tokenLifetimeSec ?? 900,
    log,
    webhooks: { userAgent: HUB_SOFTWARE, ...opts.webhooks },
  };
  if (opts.clock) serviceOpts.clock = opts.clock;
  if (opts.gate) serviceOpts.gate = opts.gate;
  if (opts.auditRetentionDays) serviceOpts.auditRetentionDays = opts.auditRetentionDays;
  if (opts.imports) serviceOpts.imports = opts.imports;
  if (opts.ingest) serviceOpts.ingest = opts.ingest;
  if (opts.amqp) serviceOpts.amqp = opts.amqp;
  const tls = opts.tls ? loadTls(opts.tls) : undefined;
  const consoleTls = opts.console?.tls ? loadTls(opts.console.tls) : undefined;
  const hub = openHub(serviceOpts);
  const probeMs = opts.agentProbeMs ?? DEFAULT_PROBE_MS;
  // changes reach the agents through the bus: in this process on SQLite; on PostgreSQL, whichever process holds the
  // agent
  const cluster = new HubCluster(hub, {
    log: log.child({ part: 'cluster' }),
    probeMs,
    ...(opts.processes ? { processes: opts.processes } : {}),
  });
  const endpoint = new AgentEndpoint(
    {
      agents: hub.useCases.agents,
      returns: hub.useCases.returns,
      log: log.child({ part: 'agents' }),
      now: () => hub.clock.now(),
      ...(opts.elapsed ? { elapsed: opts.elapsed } : {}),
    },
    log.child({ part: 'agents' }),
    { gate: hub.gate, requireClientCert: Boolean(tls?.requireClientCert) },
    {
      probeMs,
      ...(opts.agentHandshake ? { hooks: opts.agentHandshake } : {}),
      ...(cluster.remote ? { remote: cluster.remote } : {}),
    },
  );
  // inventory, policy, sync settings, key delivery and revocation: published on the bus, acted on where the agent is
  // held
  cluster.attach(endpoint);
  await cluster.ready();

  const metrics = new HubMetrics(hub);
  hub.applier.onApplied((e) => {
    metrics.applied(e.kind, e.agentAt, e.outcome, hub.clock.now());
    hub.auditTrail.nudge(); // a signed checkpoint every 1000 entries
  });
  hub.webhooks.onAttempt((a) => metrics.webhookAttempt(a.outcome));
  hub.feedRelay.relay?.onRelayed((n) => metrics.feedRelayed(n));
  hub.registerDays.onOutcome((o) => metrics.dayReconciled(o.status, o.closedAt, o.at));
  let ready = false;
  const router = new Router();
  // time: the hub's clock, for `tillbridge-agent doctor`'s clock check
  router.add('GET', '/healthz', () => ({
    ok: true,
    software: HUB_SOFTWARE,
    time: new Date(hub.clock.now()).toISOString(),
  }));
  router.add('GET', '/readyz', (ctx) => {
    // ready: listening, and the database answers
    hub.storage.db.prepare('SELECT 1').get();
    if (!ready) {
      sendJson(ctx.res, 503, { ok: false, message: 'starting or stopping' });
      return;
    }
    return { ok: true };
  });
  router.add('GET', '/metrics', async (ctx) => {
    const text = await metrics.text();
    ctx.res.writeHead(200, { 'content-type': metrics.contentType }).end(text);
  });
  agentTokenRoute(router, hub.useCases.agentTokens, Boolean(tls?.requireClientCert));
  adminRoutes(router, { ...hub.useCases, queries: hub.queries });
  enrollmentRoutes(
    router,
    { ...hub.useCases, queries: hub.queries },
    { fingerprint: tls ? certFingerprint(tls.cert) : undefined },
  );

  const handler = (req: Parameters<Router['handle']>[0], res: Parameters<Router['handle']>[1]): void => {
    // a blocked source's requests without a credential are refused here; the token endpoint and
    // the admin API check theirs first, so a working one is served whatever else its address sent
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let wait: number;
    try {
      wait =
        path === '/healthz' || path === TOKEN_PATH || path.startsWith('/v1/admin')
          ? 0
          : hub.gate.blockedFor(sourceOf(req));
    } catch (err) {
      // the gate reads the database: while it cannot be reached, 503 (never a crash of the process)
      const e = err instanceof TbError ? err : new TbError(TbCodes.INTERNAL, 'internal error');
      if (e.code !== TbCodes.STORAGE_BUSY) log.error({ err, url: req.url }, 'request failed');
      sendJson(res, httpStatusFor(e.code), { code: e.code, message: e.message });
      return;
    }
    if (wait > 0) {
      const err = rateLimited('too many failed authentications from this address; try again later', wait);
      sendJson(
        res,
        429,
        { code: err.code, message: err.message, details: err.details },
        { 'retry-after': String(retryAfterSec(wait)) },
      );
      return;
    }
    // the audit entries this request writes say where it came from
    auditOrigin
      .run(`ip:${sourceOf(req)}`, () => router.handle(req, res))
      .catch((err: unknown) => {
        log.error({ err, url: req.url }, 'request failed');
        if (!res.headersSent) sendJson(res, 500, { code: TbCodes.INTERNAL, message: 'internal error' });
      });
  };
  // a request without Host is refused by the router, with the house error (Node's own refusal has no body)
  const http = { requireHostHeader: false };
  const server: Server = tls
    ? createTlsServer({ ...serverOptions(tls), ...http }, handler)
    : createServer(http, handler);
  answerRefusalsInHouseStyle(server);
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.on('upgrade', (req, socket, head) => endpoint.handleUpgrade(req, socket, head));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const scheme = tls ? 'https' : 'http';
  const wsScheme = tls ? 'wss' : 'ws';
  const url = `${scheme}://${hostPart}:${port}`;
  let consoleRun: RunningConsole | undefined;
  if (opts.console) {
    try {
      consoleRun = await startConsole(
        {
          queries: hub.queries,
          access: hub.useCases.access,
          gate: hub.gate,
          sessionRows: hub.consoleSessions,
          tokens: hub.credentials,
          commits: hub.erpFeed,
          presence: hub.presence,
          terminals: hub.terminals,
          audit: hub.audit,
          log: log.child({ part: 'console' }),
        },
        { ...opts.console, tls: consoleTls },
      );
    } catch (err) {
      server.close();
      await endpoint.close();
      await cluster.close();
      hub.close();
      throw err;
    }
  }
  const sweeper = setInterval(
    () =>
      auditOrigin.run('hub', () => {
        try {
          const n = hub.completion.expireDue();
          if (n > 0) log.info({ expired: n }, 'reservations expired');
          const k = hub.keys.runDue();
          if (k > 0) log.info({ rotated: k }, 'scheduled key rotations ran');
          hub.auditTrail.runDue(); // the daily checkpoint, retention
          hub.gate.sweep(); // counted failed logins written, idle sources forgotten
        } catch (err) {
          log.error({ err }, 'sweep failed');
        }
      }),
    opts.sweepMs ?? 30_000,
  );
  sweeper.unref();
  log.info(
    {
      url,
      ws: `${wsScheme}://${hostPart}:${port}`,
      data: opts.dataDir,
      storage: hub.storage.location,
      process: cluster.bus.processId,
      tls: Boolean(tls),
      clientCerts: tls?.ca ? (tls.requireClientCert ? 'required' : 'checked when presented') : 'off',
      console: consoleRun?.url ?? 'off',
    },
    'hub listening',
  );

  // presence, last seen and heartbeat figures: one batch a second, without fsync (storage/deferred-writes.ts)
  hub.storage.deferred.start(DEFERRED_FLUSH_MS, (err, rows, fate) =>
    log.error({ err, rows }, `could not write presence and heartbeat figures: ${fate}`),
  );
  hub.webhooks.start();
  hub.feedRelay.relay?.start(); // one hub process on the database relays at a time (its lease)
  ready = true;
  let stopping: Promise<void> | undefined;
  return {
    url,
    wsUrl: `${wsScheme}://${hostPart}:${port}`,
    port,
    hub,
    metrics,
    cluster,
    console: consoleRun,
    stop: () => {
      stopping ??= (async () => {
        ready = false;
        clearInterval(sweeper);
        await consoleRun?.stop();
        await hub.imports.stop(); // each running import stops at its next chunk boundary, and says what it applied
        hub.auditTrail.stop();
        // no new connections; webhook deliveries in flight get at most 3 s (their drain time),
        // then every connection left is cut (a request cut before its commit changes nothing)
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await endpoint.close();
        await cluster.close();
        // webhook attempts in flight, and the feed relay's batch waiting for the broker's confirms
        // (then its cursor moves; its lease is given up), each get at most 3 s, side by side
        await Promise.all([hub.webhooks.stop(), hub.feedRelay.relay?.stop(3000)]);
        server.closeAllConnections();
        await closed;
        hub.gate.flush(); // the failed logins counted and not yet written
        hub.close();
        log.info('hub stopped');
      })();
      return stopping;
    },
  };
}
