import { arch, platform, release } from 'node:os';
import { readFileSync, rmSync } from 'node:fs';
import {
  parseHostPort,
  systemClock,
  TILLBRIDGE_VERSION,
  writePrivateFile,
  type Clock,
  type Logger,
  type SyncSettings,
} from '@tillbridge/shared';
import type { AgentConfig } from './config.js';
import { openAgentDb, type Db } from './db/agent-db.js';
import { MetaSecrets } from './db/meta-secrets.js';
import { StorageHealth } from './db/storage-health.js';
import { WriteRetry } from './db/write-retry.js';
import { AuthzCounter } from './core/authz-counters.js';
import { InventoryCache } from './core/inventory-cache.js';
import { InventoryUpdates } from './core/inventory-updates.js';
import { LiveSettings } from './core/live-settings.js';
import { LocalReturns } from './core/local-returns.js';
import { PolicyStore } from './core/policy-store.js';
import { pruneReturnHistory } from './core/return-history.js';
import { Receipts } from './core/receipts.js';
import { Replies } from './core/replies.js';
import { StoreCore } from './core/store-core.js';
import { ApiKeyStore } from './sync/api-key-store.js';
import { HubLink } from './sync/hub-link.js';
import { AgentIdentity } from './sync/identity.js';
import { Outbox } from './sync/outbox.js';
import { TerminalReporter } from './sync/terminal-reporter.js';
import type { ClientTls } from './sync/token-client.js';
import { Uploader } from './sync/uploader.js';
import { poslogTimeZone } from './gateway/codecs/poslog/config.js';
import { makeCodec, makeRegisterFramer, makeTransport, needsHid } from './gateway/factory.js';
import type { HidBinding } from './gateway/hid/binding.js';
import { loadNodeHidBinding } from './gateway/hid/node-hid-binding.js';
import { ScannerSource, ScannerTerminal } from './gateway/hid/scanner.js';
import { RegisterEndpoint } from './gateway/register-endpoint.js';
import { HttpTransport } from './gateway/transports/http.js';
import { TcpServerTransport } from './gateway/transports/tcp-server.js';
import type { Transport } from './gateway/types.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import { runFilePath } from './status/run-file.js';
import type { AgentStatus } from './status/status-report.js';
import { StatusServer } from './status/status-server.js';

export { runFilePath };

/** What the agent calls itself to the hub: its name and version (stamped into a release build). */
export const SOFTWARE = `tillbridge-agent/${TILLBRIDGE_VERSION}`;
const REPLY_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** How often the agent looks for registers' days past their cut-off without a day close. */
const DAY_CLOSE_CHECK_MS = 60_000;
const HOURLY_MS = 3600_000;
/**
 * How long a stopping agent keeps sending its outbox to a connected hub before it closes
 * (docs/operations.md: the shutdown bound). What is not acked by then stays for the next start.
 */
export const STOP_DRAIN_MS = 5000;

export interface RunningAgent {
  readonly agentId: string;
  readonly statusUrl: string;
  /** Bound TCP port of each tcp-server register (useful when the config asked for port 0). */
  registerPort(id: string): number | undefined;
  status(): AgentStatus;
  core: StoreCore;
  /** Stops accepting register traffic, closes the hub link and the database. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The HID implementation (default: node-hid, loaded only when a HID register or scanner is configured). */
  hid?: HidBinding;
  /**
   * The store's clock (default: the system's): every time of day the agent writes or reports —
   * decisions, events, receipts, status, terminal states, counters — reads it. Timers and
   * backoff count elapsed time on monotonicClock instead.
   */
  clock?: Clock;
}

type Config = Readonly<AgentConfig>;

/**
 * The agent's composition root: the only module that knows every layer (docs/architecture.md,
 * "The agent's layers"). It builds storage, sync, the core, the gateway and status from a
 * validated config, wires what the hub says to who acts on it, and starts them in order.
 */
export async function startAgent(config: Config, log: Logger, opts: StartOptions = {}): Promise<RunningAgent> {
  // node-hid (and so libusb) is loaded only when something needs it; failing before anything is opened
  const hid = opts.hid ?? (needsHid(config.registers, config.scanners) ? await loadNodeHidBinding() : undefined);
  const storage = openStorage(config, log, opts.clock ?? systemClock);
  const sync = buildSync(config, log, storage);
  const core = buildCore(config, log, storage, sync.link);
  const gateway = await buildGateway(config, log, storage, core, hid);
  const status = buildStatus(config, log, { storage, sync, core, gateway });
  return run(config, log, { storage, sync, core, gateway, status });
}

/** The database and what the agent keeps in it. */
function openStorage(config: Config, log: Logger, clock: Clock) {
  const now = (): number => clock.now();
  const db: Db = openAgentDb(config.dataDir, { log: log.child({ part: 'db' }) });
  // the API key and card key kept here are sealed under a key derived from the config's API key
  const secrets = new MetaSecrets(db, config.hub.apiKey);
  if (secrets.sealClearValues() > 0) log.info('sealed the secrets an older version kept in clear');
  const live = new LiveSettings(db, config.hub, log.child({ part: 'settings' }));
  // writes nobody can be refused (state the hub pushed, deletes of acked events): retried until done
  const health = new StorageHealth(now);
  const retry = { baseMs: config.hub.reconnectBaseMs, capMs: config.hub.reconnectCapMs };
  return {
    db,
    now,
    startedAt: new Date(now()).toISOString(),
    identity: new AgentIdentity(db),
    secrets,
    live,
    // events are journalled under their business day in the store's zone (the live setting, read at each event)
    outbox: new Outbox(db, now, () => live.settings.timeZone),
    replies: new Replies(db, now),
    receipts: new Receipts(db, now),
    returns: new LocalReturns(db, now),
    inventory: new InventoryCache(db, now),
    health,
    writes: new WriteRetry({ ...retry, health, log: log.child({ part: 'storage' }) }),
    // a rotated-in API key, once stored here, is used instead of the config's
    keys: new ApiKeyStore(db, secrets, now),
    policy: new PolicyStore(db, config.offline.maxRefund, log.child({ part: 'policy' })),
    counters: new AuthzCounter(now),
    cardKey: new CardKey(secrets),
  };
}
type Storage = ReturnType<typeof openStorage>;

/**
 * The key of the keyed hash kept of card numbers: the hub's (said in its welcome), kept here for
 * when it cannot be reached.
 */
class CardKey {
  private key: Buffer | undefined;

  constructor(private readonly secrets: MetaSecrets) {
    const stored = secrets.get('card_key');
    this.key = stored ? Buffer.from(stored, 'base64url') : undefined;
  }

  get current(): Buffer | undefined {
    return this.key;
  }

  /** The hub's key from now on; true when it changed (then store it). */
  accept(key: string): boolean {
    if (!key || key === this.key?.toString('base64url')) return false;
    this.key = Buffer.from(key, 'base64url');
    return true;
  }

  store(key: string): void {
    this.secrets.set('card_key', key);
  }
}

/** The hub link and the uploader of the outbox. */
function buildSync(config: Config, log: Logger, storage: Storage) {
  const { identity, outbox, keys, now } = storage;
  const plain = config.hub.urls.filter((u) => u.startsWith('ws://'));
  if (plain.length > 0 && config.hub.insecure) {
    log.warn(
      { hub: plain.join(' ') },
      'INSECURE: talking to the hub over plain ws:// (hub.insecure); ' +
        'keys, tokens and sales cross the network unencrypted',
    );
  }
  const link = new HubLink({
    url: config.hub.urls,
    store: config.store,
    apiKey: () => keys.current() ?? config.hub.apiKey,
    tls: clientTls(config),
    refreshRatio: config.hub.tokenRefreshAt,
    agentId: identity.agentId,
    hello: () => ({ incarnation: identity.incarnation, newest: outbox.newest() }),
    software: SOFTWARE,
    // within what the hub's hello schema takes (a longer kernel release string would make the hello a protocol error)
    os: { platform: platform().slice(0, 32), release: release().slice(0, 64), arch: arch().slice(0, 32) },
    startedAt: storage.startedAt,
    reconnectBaseMs: config.hub.reconnectBaseMs,
    reconnectCapMs: config.hub.reconnectCapMs,
    pingMs: Math.min(config.hub.heartbeatMs, 10_000),
    log: log.child({ part: 'hub-link' }),
    now,
  });
  const uploader = new Uploader(outbox, link, {
    batchMax: config.hub.uploadBatchMax,
    retryBaseMs: config.hub.reconnectBaseMs,
    retryCapMs: config.hub.reconnectCapMs,
    log: log.child({ part: 'uploader' }),
    writes: storage.writes,
    now,
  });
  return { link, uploader };
}
type Sync = ReturnType<typeof buildSync>;

function clientTls(config: Config): ClientTls {
  const tls: ClientTls = {};
  if (config.hub.caFile) tls.ca = readFileSync(config.hub.caFile);
  if (config.hub.fingerprint) tls.fingerprint = config.hub.fingerprint;
  if (config.hub.certFile && config.hub.keyFile) {
    tls.cert = readFileSync(config.hub.certFile);
    tls.key = readFileSync(config.hub.keyFile);
  }
  return tls;
}

function buildCore(config: Config, log: Logger, storage: Storage, hub: HubLink): StoreCore {
  const { db, outbox, replies, receipts, returns, policy, counters, live, now } = storage;
  return new StoreCore({
    ...{ db, outbox, replies, receipts, returns, policy, counters, live, now, hub },
    store: config.store,
    agentId: storage.identity.agentId,
    deadlineMs: config.hub.authorizationDeadlineMs,
    log: log.child({ part: 'core' }),
    storage: storage.health,
  });
}

/** The registers' endpoints (transport, framing, codec each) and the HID barcode scanners. */
async function buildGateway(
  config: Config,
  log: Logger,
  storage: Storage,
  core: StoreCore,
  binding: HidBinding | undefined,
) {
  const hid = (): HidBinding => {
    if (!binding) throw new Error('no HID binding');
    return binding;
  };
  const { now, receipts, cardKey } = storage;
  // the zone of a POSLog register whose config names none
  const hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const transports = new Map<string, Transport>();
  const endpoints = await Promise.all(
    config.registers.map(async (register) => {
      const registerLog = log.child({ register: register.id });
      const transport = makeTransport(register, registerLog, hid);
      transports.set(register.id, transport);
      const codec = await makeCodec(register, { hostZone, known: receipts });
      if (register.codec.type === 'poslog') {
        const timeZone = poslogTimeZone(register.codec, hostZone);
        registerLog.info({ timeZone }, 'POSLog times without a zone are in this time zone');
      }
      const framer = makeRegisterFramer(register);
      const endpointOptions = { cardKey: () => cardKey.current, now };
      return new RegisterEndpoint(register.id, transport, framer, codec, core, registerLog, endpointOptions);
    }),
  );
  const built = config.scanners.map((scanner) => {
    const endpoint = endpoints.find((e) => e.id === scanner.register);
    if (!endpoint) throw new Error(`a scanner feeds register ${scanner.register}, which is not configured`);
    const source = buildScanner(scanner, log, { binding: hid(), core, endpoint, now });
    // what the hub is told of the scanner, next to the registers (terminal reports)
    return { source, terminal: new ScannerTerminal(scanner.id, scanner.register, source, now) };
  });
  const scanners = built.map((b) => b.source);
  const scannerTerminals = built.map((b) => b.terminal);
  return { endpoints, transports, scanners, scannerTerminals };
}
type Gateway = Awaited<ReturnType<typeof buildGateway>>;

/** A HID barcode scanner: a scanned receipt is looked up and sent to the scanner's register. */
function buildScanner(
  scanner: AgentConfig['scanners'][number],
  log: Logger,
  deps: { binding: HidBinding; core: StoreCore; endpoint: RegisterEndpoint; now: () => number },
): ScannerSource {
  const { id: scannerId, register, ...device } = scanner;
  const scannerLog = log.child({ scanner: scannerId, register });
  const source = new ScannerSource({ ...device, binding: deps.binding, log: scannerLog, now: deps.now });
  let scans = 0;
  source.onScan((code) => {
    const id = `scan-${scannerId}-${deps.now().toString(36)}-${++scans}`;
    scannerLog.info({ id }, 'receipt scanned');
    deps.core
      .lookup(id, { receipt: code.trim() })
      .then((reply) => {
        if (deps.endpoint.push(reply) === 0) scannerLog.warn({ id }, 'scanned, but the register is not connected');
      })
      .catch((err: unknown) => scannerLog.error({ err }, 'scan lookup failed'));
  });
  source.onState((state, detail) => scannerLog.info({ state, detail }, 'scanner state'));
  return source;
}

/** What `status` shows, the metrics, and the endpoint that serves both. */
function buildStatus(
  config: Config,
  log: Logger,
  layers: { storage: Storage; sync: Sync; core: StoreCore; gateway: Gateway },
) {
  const { storage, sync, core, gateway } = layers;
  const { identity, outbox, inventory, policy, live, health, counters, db } = storage;
  const snapshot = (): AgentStatus => {
    const hub = sync.link.info();
    const lastSync = sync.uploader.lastSync();
    return {
      store: config.store,
      agentId: identity.agentId,
      incarnation: identity.incarnation,
      running: true,
      pid: process.pid,
      startedAt: storage.startedAt,
      hub: lastSync ? { ...hub, lastSync } : hub,
      outbox: outbox.stats(),
      registers: gateway.endpoints.map((e) => e.status()),
      inventorySkus: inventory.count(),
      policyVersion: policy.version,
      configVersion: live.version,
      policyProblem: policy.problem,
      configProblem: live.problem,
      storage: health.view(),
    };
  };
  const metrics = new AgentMetrics({
    status: snapshot,
    authz: () => counters.snapshot(),
    dayCloses: () => core.days.counters,
  });
  const listen = parseHostPort(config.status.listen);
  // ready: every register endpoint is listening and the database answers (the hub is not needed)
  const readiness = { ready: false };
  const server = new StatusServer(listen.host, listen.port, snapshot, {
    metrics: async () => ({ contentType: metrics.contentType(), body: await metrics.text() }),
    log: log.child({ part: 'status' }),
    notReady: () => {
      if (!readiness.ready) return 'starting or stopping';
      try {
        db.prepare('SELECT 1').get();
      } catch (err) {
        return `database: ${(err as Error).message}`;
      }
      return null;
    },
  });
  return { snapshot, server, readiness };
}
type Status = ReturnType<typeof buildStatus>;

interface Parts {
  storage: Storage;
  sync: Sync;
  core: StoreCore;
  gateway: Gateway;
  status: Status;
}

/** What the agent tells the hub of itself: sent on each welcome, on changes, and every heartbeat interval. */
function heartbeatOf({ storage, sync, gateway }: Parts): () => void {
  return () => {
    const outboxStats = storage.outbox.stats();
    sync.link.send({
      t: 'heartbeat',
      outboxDepth: outboxStats.depth,
      oldestAgeMs: outboxStats.oldestAgeMs,
      registers: gateway.endpoints.map((e) => ({ id: e.id, connected: e.status().connected })),
      policyVersion: storage.policy.version,
      configVersion: storage.live.version,
      authz: storage.counters.snapshot(),
    });
  };
}

/**
 * The inventory copy's digest, for the hub's accuracy check (it re-sends what differs): one right
 * after the whole inventory is in, one once the copy caught up after failed writes, none while
 * pushes wait to be written (the copy is known to be behind).
 */
function inventorySync({ storage, sync }: Parts) {
  const sendDigest = (): void => {
    if (updates.behind) return;
    sync.link.send({ t: 'inventory.digest', items: storage.inventory.digest(), upTo: sync.link.inventorySeen() });
  };
  const updates = new InventoryUpdates(storage.inventory, storage.writes, (update, caughtUp) => {
    if (update.full || caughtUp) setImmediate(sendDigest);
  });
  return { updates, sendDigest };
}

/**
 * Who acts on what the hub says. Handlers run in the order they are added here (after the
 * uploader's own, added when it started); one that throws is logged and counted by the link, and
 * the others still run.
 */
interface HubHooks {
  heartbeat: () => void;
  reporter: TerminalReporter;
  inventory: InventoryUpdates;
}

function wireHub(parts: Parts, log: Logger, hooks: HubHooks): void {
  const { storage, sync, core } = parts;
  const { identity, writes, live, keys, policy, counters, cardKey } = storage;
  const hub = sync.link.events;
  hub.on('inventory', (full, items, removed) => hooks.inventory.push(full, items, removed));
  // restored, reverted or copied (DESIGN rule 9): the outbox goes again under a new incarnation, taken by id
  hub.on('incarnation', (reason) => {
    const previous = identity.incarnation;
    log.warn({ previous, incarnation: identity.renew(), reason }, 'starting a new incarnation of this database');
  });
  hub.on('config', (version, settings) => writes.run('settings', () => void live.accept(version, settings)));
  hub.on('key', (keyId, secret) =>
    writes.run('api key', () => {
      keys.store(keyId, secret); // committed (fsync) before the hub hears it may forget the key
      log.info({ key: keyId }, 'stored a new API key from the hub');
      sync.link.confirmKey(keyId);
    }),
  );
  hub.on('policy', (version, p) =>
    writes.run('policy', () => {
      if (policy.accept(version, p)) hooks.heartbeat(); // the hub hears at once which version this store holds
    }),
  );
  hub.on('late', () => counters.late());
  // the hub lacks a register's day: its journalled events go back in the outbox, original ids and all
  hub.on('resend', (register, businessDay, missing) =>
    writes.run(`resend ${register} ${businessDay}`, () => void core.days.resend(register, businessDay, missing)),
  );
  // each (re)connection, in this order: the hub's card key kept, the registers' states and this
  // agent's heartbeat told, the return requests a crash left pending asked again
  hub.on('welcome', (_lastSeq, key) => {
    if (cardKey.accept(key)) writes.run('card key', () => cardKey.store(key));
    hooks.reporter.reportAll();
    hooks.heartbeat();
    core.resolvePending().catch((err: unknown) => log.warn({ err }, 'resolving pending requests failed'));
  });
}

/** Timers that follow the sync settings, rescheduled whenever the hub changes them. */
function followSettings(parts: Parts, heartbeat: () => void, sendDigest: () => void): () => void {
  const { storage, sync } = parts;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let digestTimer: NodeJS.Timeout | undefined;
  const apply = (st: SyncSettings): void => {
    clearInterval(heartbeatTimer);
    heartbeatTimer = setInterval(heartbeat, st.heartbeatSeconds * 1000);
    clearInterval(digestTimer);
    digestTimer = setInterval(sendDigest, st.inventoryRefreshSeconds * 1000);
    const batched = { mode: 'batched' as const, intervalMs: st.uploadIntervalSeconds * 1000 };
    sync.uploader.setMode(st.uploadMode === 'batched' ? batched : { mode: 'realtime' });
    sync.uploader.setRetry(st.retryBaseMs, st.retryCapMs);
    sync.link.setBackoff(st.retryBaseMs, st.retryCapMs);
    storage.writes.setBackoff(st.retryBaseMs, st.retryCapMs);
  };
  apply(storage.live.settings);
  storage.live.onChange((st) => {
    apply(st);
    heartbeat(); // the hub hears at once which version this agent runs
  });
  return () => {
    clearInterval(heartbeatTimer);
    clearInterval(digestTimer);
  };
}

/**
 * Housekeeping on the agent's clock: replies, the journal and the return history (receipts and local
 * returns past the policy's window) pruned, the agent's own day closes.
 */
function housekeeping({ storage, core }: Parts): NodeJS.Timeout[] {
  const { writes, replies, db, policy, now } = storage;
  const pruneHistory = (): void => void pruneReturnHistory(db, policy, now());
  // registers that never close their day: the agent's own day close at the store's cut-off
  const closeDays = (): void => {
    writes.run('day closes', () => void core.days.runDue());
  };
  closeDays();
  return [
    setInterval(() => writes.run('reply pruning', () => void replies.pruneOlderThan(REPLY_RETENTION_MS)), HOURLY_MS),
    setInterval(closeDays, DAY_CLOSE_CHECK_MS),
    setInterval(() => writes.run('journal pruning', () => void core.days.prune()), HOURLY_MS),
    setInterval(() => writes.run('return history pruning', pruneHistory), HOURLY_MS),
  ];
}

/** Starts the parts in order (registers, scanners, status, then the hub); stops them in reverse. */
async function run(config: Config, log: Logger, parts: Parts): Promise<RunningAgent> {
  const { storage, sync, core, gateway, status } = parts;
  const { endpoints, scanners, scannerTerminals, transports } = gateway;
  const heartbeat = heartbeatOf(parts);
  const inventory = inventorySync(parts);
  const reporter = new TerminalReporter(sync.link, [...endpoints, ...scannerTerminals], storage.now);
  reporter.start();
  const abort = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  let stopSettings = (): void => undefined;
  try {
    for (const e of endpoints) await e.start();
    for (const sc of scanners) await sc.start();
    const statusUrl = await status.server.start();
    const runFile = runFilePath(config.dataDir);
    writePrivateFile(runFile, JSON.stringify({ pid: process.pid, statusUrl, startedAt: storage.startedAt }));
    sync.uploader.start();
    wireHub(parts, log, { heartbeat, reporter, inventory: inventory.updates });
    sync.link.start(abort.signal);
    stopSettings = followSettings(parts, heartbeat, inventory.sendDigest);
    timers.push(...housekeeping(parts));
    status.readiness.ready = true;
    const registers = endpoints.map((e) => e.id);
    log.info({ store: config.store, agent: storage.identity.agentId, status: statusUrl, registers }, 'agent started');
    let stopping: Promise<void> | undefined;
    const stop = async (): Promise<void> => {
      status.readiness.ready = false;
      for (const t of timers) clearInterval(t);
      stopSettings();
      reporter.stop();
      await Promise.all(scanners.map((sc) => sc.stop()));
      await Promise.all(endpoints.map((e) => e.stop()));
      // what the registers committed goes to a connected hub, for a bounded time
      if (!(await sync.uploader.drain(STOP_DRAIN_MS))) {
        const waiting = storage.outbox.stats().depth;
        log.warn({ waiting }, 'stopping with events the hub has not acknowledged; they are sent after the next start');
      }
      sync.uploader.stop();
      storage.writes.stop();
      abort.abort();
      await sync.link.stopped();
      await status.server.stop();
      rmSync(runFile, { force: true });
      storage.db.close();
      log.info('agent stopped');
    };
    return {
      agentId: storage.identity.agentId,
      statusUrl,
      core,
      registerPort: (id) => {
        const t = transports.get(id);
        return t instanceof TcpServerTransport || t instanceof HttpTransport ? t.port() : undefined;
      },
      status: status.snapshot,
      stop: () => (stopping ??= stop()),
    };
  } catch (err) {
    for (const t of timers) clearInterval(t);
    stopSettings();
    storage.writes.stop();
    abort.abort();
    await Promise.allSettled(scanners.map((sc) => sc.stop()));
    await Promise.allSettled(endpoints.map((e) => e.stop()));
    await status.server.stop();
    storage.db.close();
    throw err;
  }
}
