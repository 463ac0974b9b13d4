import { arch, platform, release } from 'node:os';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@tillbridge/shared';
import type { AgentConfig } from './config.js';
import { openAgentDb, type Db } from './db/agent-db.js';
import { MetaSecrets } from './db/meta-secrets.js';
import { AgentIdentity } from './sync/identity.js';
import { PolicyStore } from './core/policy-store.js';
import { LiveSettings } from './core/live-settings.js';
import type { SyncSettings } from '@tillbridge/shared';
import { ApiKeyStore } from './sync/api-key-store.js';
import type { ClientTls } from './sync/token-client.js';
import { AuthzCounter } from './core/authz-counters.js';
import { Outbox } from './sync/outbox.js';
import { HubLink } from './sync/hub-link.js';
import { Uploader } from './sync/uploader.js';
import { TerminalReporter } from './sync/terminal-reporter.js';
import { Replies } from './core/replies.js';
import { Receipts } from './core/receipts.js';
import { LocalReturns } from './core/local-returns.js';
import { InventoryCache } from './core/inventory-cache.js';
import { InventoryUpdates } from './core/inventory-updates.js';
import { StorageHealth } from './db/storage-health.js';
import { WriteRetry } from './db/write-retry.js';
import { StoreCore } from './core/store-core.js';
import { RegisterEndpoint } from './gateway/register-endpoint.js';
import { TcpServerTransport } from './gateway/transports/tcp-server.js';
import { HttpTransport } from './gateway/transports/http.js';
import type { Transport } from './gateway/types.js';
import { PoslogCodec } from './gateway/codecs/poslog/codec.js';
import { makeCodec, makeRegisterFramer, makeTransport, needsHid } from './gateway/factory.js';
import { loadNodeHidBinding } from './gateway/hid/node-hid-binding.js';
import type { HidBinding } from './gateway/hid/binding.js';
import { ScannerSource } from './gateway/hid/scanner.js';
import { StatusServer } from './status/status-server.js';
import { runFilePath } from './status/run-file.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import type { AgentStatus } from './status/status-report.js';
import { parseHostPort, systemClock, TILLBRIDGE_VERSION, writePrivateFile, type Clock } from '@tillbridge/shared';

/** What the agent calls itself to the hub: its name and version (stamped into a release build). */
export const SOFTWARE = `tillbridge-agent/${TILLBRIDGE_VERSION}`;
const REPLY_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** How often the agent looks for registers' days past their cut-off without a day close. */
const DAY_CLOSE_CHECK_MS = 60_000;
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

export { runFilePath };

/** The agent's composition root: wires storage, sync, core and gateway from a validated config. */
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

export async function startAgent(config: Readonly<AgentConfig>, log: Logger, opts: StartOptions = {}): Promise<RunningAgent> {
  // Load node-hid (and so libusb) only when something needs it; fail before touching anything else.
  let hidBinding = opts.hid;
  if (!hidBinding && needsHid(config.registers, config.scanners)) hidBinding = await loadNodeHidBinding();
  const hid = (): HidBinding => {
    if (!hidBinding) throw new Error('no HID binding');
    return hidBinding;
  };
  const db: Db = openAgentDb(config.dataDir, { log: log.child({ part: 'db' }) });
  const identity = new AgentIdentity(db);
  const id = identity.agentId;
  // the API key and card key kept here are sealed under a key derived from the config's API key
  const secrets = new MetaSecrets(db, config.hub.apiKey);
  if (secrets.sealClearValues() > 0) log.info('sealed the secrets an older version kept in clear');
  const clock = opts.clock ?? systemClock;
  const now = (): number => clock.now();
  const startedAt = new Date(now()).toISOString();
  const live = new LiveSettings(db, config.hub, log.child({ part: 'settings' }));
  // events are journalled under their business day in the store's zone (the live setting, read at each event)
  const outbox = new Outbox(db, now, () => live.settings.timeZone);
  const replies = new Replies(db, now);
  const receipts = new Receipts(db, now);
  const returns = new LocalReturns(db, now);
  const inventory = new InventoryCache(db, now);
  // writes nobody can be refused (state the hub pushed, deletes of acked events): retried until done
  const health = new StorageHealth(now);
  const writes = new WriteRetry({ baseMs: config.hub.reconnectBaseMs, capMs: config.hub.reconnectCapMs, health, log: log.child({ part: 'storage' }) });

  // a rotated-in API key, once stored here, is used instead of the config's
  const keys = new ApiKeyStore(db, secrets, now);
  const tls: ClientTls = {};
  if (config.hub.caFile) tls.ca = readFileSync(config.hub.caFile);
  if (config.hub.fingerprint) tls.fingerprint = config.hub.fingerprint;
  if (config.hub.certFile && config.hub.keyFile) {
    tls.cert = readFileSync(config.hub.certFile);
    tls.key = readFileSync(config.hub.keyFile);
  }
  const plain = config.hub.urls.filter((u) => u.startsWith('ws://'));
  if (plain.length > 0 && config.hub.insecure) {
    log.warn({ hub: plain.join(' ') }, 'INSECURE: talking to the hub over plain ws:// (hub.insecure); keys, tokens and sales cross the network unencrypted');
  }
  const link = new HubLink({
    url: config.hub.urls,
    store: config.store,
    apiKey: () => keys.current() ?? config.hub.apiKey,
    tls,
    refreshRatio: config.hub.tokenRefreshAt,
    agentId: id,
    hello: () => ({ incarnation: identity.incarnation, newest: outbox.newest() }),
    software: SOFTWARE,
    // within what the hub's hello schema takes (a longer kernel release string would make the hello a protocol error)
    os: { platform: platform().slice(0, 32), release: release().slice(0, 64), arch: arch().slice(0, 32) },
    startedAt,
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
    writes,
    now,
  });
  // the inventory copy's digest, for the hub's accuracy check (it re-sends what differs); none
  // while pushes wait to be written: the copy is known to be behind
  const sendDigest = (): void => {
    if (inventoryUpdates.behind) return;
    link.send({ t: 'inventory.digest', items: inventory.digest(), upTo: link.inventorySeen() });
  };
  // a report right after the whole inventory is in, and once the copy has caught up after failed writes
  const inventoryUpdates = new InventoryUpdates(inventory, writes, (u, caughtUp) => {
    if (u.full || caughtUp) setImmediate(sendDigest);
  });
  link.on('inventory', (full, items, removed) => inventoryUpdates.push(full, items, removed));
  // restored, reverted or copied (DESIGN rule 9): the outbox goes again under a new incarnation, taken by id
  link.on('incarnation', (reason) => {
    const previous = identity.incarnation;
    const next = identity.renew();
    log.warn({ previous, incarnation: next, reason }, 'starting a new incarnation of this database');
  });
  link.on('config', (version, st) => writes.run('settings', () => void live.accept(version, st)));
  link.on('key', (keyId, secret) =>
    writes.run('api key', () => {
      keys.store(keyId, secret); // committed (fsync) before the hub hears it may forget the key
      log.info({ key: keyId }, 'stored a new API key from the hub');
      link.confirmKey(keyId);
    }),
  );
  const policy = new PolicyStore(db, config.offline.maxRefund, log.child({ part: 'policy' }));
  link.on('policy', (version, p) =>
    writes.run('policy', () => {
      // tell the hub at once which version this store now holds
      if (policy.accept(version, p)) link.emit('heartbeat-due');
    }),
  );
  const counters = new AuthzCounter(now);
  link.on('late', () => counters.late());
  // the key of the keyed hash kept of card numbers: the hub's, kept for when it cannot be reached
  const storedCardKey = secrets.get('card_key');
  let cardKey: Buffer | undefined = storedCardKey ? Buffer.from(storedCardKey, 'base64url') : undefined;
  link.on('welcome', (_lastSeq, key) => {
    if (key && key !== cardKey?.toString('base64url')) {
      cardKey = Buffer.from(key, 'base64url'); // the hub's key from now on; kept for when it cannot be reached
      writes.run('card key', () => secrets.set('card_key', key));
    }
  });

  const core = new StoreCore({
    db,
    store: config.store,
    agentId: id,
    outbox,
    replies,
    receipts,
    returns,
    hub: link,
    policy,
    counters,
    live,
    deadlineMs: config.hub.authorizationDeadlineMs,
    log: log.child({ part: 'core' }),
    storage: health,
    now,
  });

  // the hub lacks a register's day: its journalled events go back in the outbox, original ids and all
  link.on('resend', (register, businessDay, missing) => writes.run(`resend ${register} ${businessDay}`, () => void core.days.resend(register, businessDay, missing)));

  const endpoints: RegisterEndpoint[] = [];
  // the zone of a POSLog register whose config names none
  const hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const transports = new Map<string, Transport>();
  for (const r of config.registers) {
    const rlog = log.child({ register: r.id });
    const t = makeTransport(r, rlog, hid);
    transports.set(r.id, t);
    const codec = makeCodec(r, { hostZone, known: receipts });
    if (codec instanceof PoslogCodec) rlog.info({ timeZone: codec.timeZone }, 'POSLog times without a zone are in this time zone');
    endpoints.push(new RegisterEndpoint(r.id, t, makeRegisterFramer(r), codec, core, rlog, { cardKey: () => cardKey, now }));
  }
  // HID barcode scanners: a scanned receipt is looked up and sent to the scanner's register.
  const scanners = config.scanners.map((sc) => {
    const { id: scannerId, register, ...device } = sc;
    const slog = log.child({ scanner: scannerId, register });
    const source = new ScannerSource({ ...device, binding: hid(), log: slog, now });
    const endpoint = endpoints.find((e) => e.id === register)!;
    let n = 0;
    source.onScan((code) => {
      const id = `scan-${scannerId}-${now().toString(36)}-${++n}`;
      slog.info({ id }, 'receipt scanned');
      core
        .lookup(id, { receipt: code.trim() })
        .then((reply) => {
          if (endpoint.push(reply) === 0) slog.warn({ id }, 'scanned, but the register is not connected');
        })
        .catch((err: unknown) => slog.error({ err: (err as Error).message }, 'scan lookup failed'));
    });
    source.onState((state, detail) => slog.info({ state, detail }, 'scanner state'));
    return source;
  });

  const snapshot = (): AgentStatus => {
    const hub = link.info();
    const lastSync = uploader.lastSync();
    return {
      store: config.store,
      agentId: id,
      incarnation: identity.incarnation,
      running: true,
      pid: process.pid,
      startedAt,
      hub: lastSync ? { ...hub, lastSync } : hub,
      outbox: outbox.stats(),
      registers: endpoints.map((e) => e.status()),
      inventorySkus: inventory.count(),
      policyVersion: policy.version,
      configVersion: live.version,
      storage: health.view(),
    };
  };
  const reporter = new TerminalReporter(link, endpoints, now);
  reporter.start();
  const listen = parseHostPort(config.status.listen);
  const metrics = new AgentMetrics({ status: snapshot, authz: () => counters.snapshot(), dayCloses: () => core.days.counters });
  // ready: every register endpoint is listening and the database answers (the hub is not needed)
  let ready = false;
  const statusServer = new StatusServer(listen.host, listen.port, snapshot, {
    metrics: async () => ({ contentType: metrics.contentType(), body: await metrics.text() }),
    notReady: () => {
      if (!ready) return 'starting or stopping';
      try {
        db.prepare('SELECT 1').get();
      } catch (err) {
        return `database: ${(err as Error).message}`;
      }
      return null;
    },
  });

  const abort = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  try {
    for (const e of endpoints) await e.start();
    for (const sc of scanners) await sc.start();
    const statusUrl = await statusServer.start();
    const runFile = runFilePath(config.dataDir);
    writePrivateFile(runFile, JSON.stringify({ pid: process.pid, statusUrl, startedAt }));

    uploader.start();
    link.start(abort.signal);
    const heartbeat = (): void => {
      const s = outbox.stats();
      link.send({
        t: 'heartbeat',
        outboxDepth: s.depth,
        oldestAgeMs: s.oldestAgeMs,
        registers: endpoints.map((e) => ({ id: e.id, connected: e.status().connected })),
        policyVersion: policy.version,
        configVersion: live.version,
        authz: counters.snapshot(),
      });
    };
    link.on('welcome', heartbeat);
    link.on('heartbeat-due', heartbeat);
    link.on('welcome', () => {
      core.resolvePending().catch((err: unknown) => log.warn({ err }, 'resolving pending requests failed'));
    });
    // timers that follow the sync settings, rescheduled whenever the hub changes them
    let heartbeatTimer: NodeJS.Timeout | undefined;
    let digestTimer: NodeJS.Timeout | undefined;
    const applySettings = (st: SyncSettings): void => {
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      heartbeatTimer = setInterval(heartbeat, st.heartbeatSeconds * 1000);
      if (digestTimer) clearInterval(digestTimer);
      digestTimer = setInterval(sendDigest, st.inventoryRefreshSeconds * 1000);
      uploader.setMode(st.uploadMode === 'batched' ? { mode: 'batched', intervalMs: st.uploadIntervalSeconds * 1000 } : { mode: 'realtime' });
      uploader.setRetry(st.retryBaseMs, st.retryCapMs);
      link.setBackoff(st.retryBaseMs, st.retryCapMs);
      writes.setBackoff(st.retryBaseMs, st.retryCapMs);
    };
    applySettings(live.settings);
    live.onChange((st) => {
      applySettings(st);
      heartbeat(); // the hub hears at once which version this agent runs
    });
    timers.push(setInterval(() => writes.run('reply pruning', () => void replies.pruneOlderThan(REPLY_RETENTION_MS)), 3600_000));
    // registers that never close their day: the agent's own day close at the store's cut-off
    // (checked every minute on the agent's clock), and the journal kept for its retention
    const closeDays = (): void => {
      writes.run('day closes', () => void core.days.runDue());
    };
    closeDays();
    timers.push(setInterval(closeDays, DAY_CLOSE_CHECK_MS));
    timers.push(setInterval(() => writes.run('journal pruning', () => void core.days.prune()), 3600_000));
    ready = true;
    log.info({ store: config.store, agent: id, status: statusUrl, registers: endpoints.map((e) => e.id) }, 'agent started');

    let stopping: Promise<void> | undefined;
    return {
      agentId: id,
      statusUrl,
      core,
      registerPort: (rid) => {
        const t = transports.get(rid);
        return t instanceof TcpServerTransport || t instanceof HttpTransport ? t.port() : undefined;
      },
      status: snapshot,
      stop: () => {
        stopping ??= (async () => {
          ready = false;
          for (const t of timers) clearInterval(t);
          if (heartbeatTimer) clearInterval(heartbeatTimer);
          if (digestTimer) clearInterval(digestTimer);
          reporter.stop();
          await Promise.all(scanners.map((sc) => sc.stop()));
          await Promise.all(endpoints.map((e) => e.stop()));
          // what the registers committed goes to a connected hub, for a bounded time
          if (!(await uploader.drain(STOP_DRAIN_MS))) {
            log.warn({ waiting: outbox.stats().depth }, 'stopping with events the hub has not acknowledged; they are sent after the next start');
          }
          uploader.stop();
          writes.stop();
          abort.abort();
          await link.stopped();
          await statusServer.stop();
          rmSync(runFile, { force: true });
          db.close();
          log.info('agent stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    for (const t of timers) clearInterval(t);
    writes.stop();
    abort.abort();
    await Promise.allSettled(scanners.map((sc) => sc.stop()));
    await Promise.allSettled(endpoints.map((e) => e.stop()));
    await statusServer.stop();
    db.close();
    throw err;
  }
}
