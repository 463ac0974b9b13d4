import type { Logger } from '@tillbridge/shared';
import { AccessTokens } from './auth/access-tokens.js';
import { Credentials } from './auth/credentials.js';
import { ConsoleSessionRows } from './auth/console-session-rows.js';
import { loadSecrets, secretCheck, type HubSecrets } from './auth/secrets.js';
import { TbCodes, TbError } from '@tillbridge/shared';
import { AuditLog } from './domain/audit-log.js';
import { ChangeFeed } from './domain/change-feed.js';
import { Feed } from './feed/feed.js';
import { AmqpRelay, type RelayStatus } from './feed/amqp-relay.js';
import { systemClock, type Clock } from './domain/clock.js';
import { Cursors } from './domain/cursors.js';
import { AgentCopies } from './domain/agent-copies.js';
import { EventApplier } from './domain/event-applier.js';
import { DayReconciliation } from './reconcile/day-reconciliation.js';
import { Exceptions } from './domain/exceptions.js';
import { InventoryLedger } from './domain/inventory-ledger.js';
import { ReturnsEngine } from './domain/returns-engine.js';
import { OfflineReconciler } from './domain/offline-reconciler.js';
import { ReturnCompletion } from './domain/return-completion.js';
import { ExceptionResolution } from './domain/exception-resolution.js';
import { Policies } from './domain/policies.js';
import { Managers } from './domain/managers.js';
import { Activity } from './domain/activity.js';
import { AuthzStats } from './domain/authz-stats.js';
import { KeyRotation } from './domain/key-rotation.js';
import { Enrollments } from './enrollment/enrollments.js';
import { syncConfig } from './domain/sync-config.js';
import { InventoryAccuracy } from './domain/inventory-accuracy.js';
import type { VersionedSettings } from './domain/versioned-settings.js';
import type { SyncSettings } from '@tillbridge/shared';
import { Gate, DEFAULT_GATE, type GateOptions } from './auth/gate.js';
import { ReturnsRepo } from './domain/returns-repo.js';
import { Sales } from './domain/sales.js';
import { SaleService } from './domain/sale-service.js';
import { Stores } from './domain/stores.js';
import { Terminals } from './domain/terminals.js';
import { openHubStorage, type HubStorage } from './storage/index.js';
import { Presence } from './sync/presence.js';
import { IngestQueue, type IngestOptions } from './sync/ingest-queue.js';
import { HubEvents } from './domain/hub-events.js';
import { Webhooks } from './webhooks/webhooks.js';
import { AuditTrail } from './audit/trail.js';
import { AgentVersionFloor } from './domain/agent-versions.js';
import { Imports, type ImportsOptions } from './imports/imports.js';
import { wireUseCases, type AdminQueries, type UseCases } from './usecases/index.js';

export interface HubServiceOptions {
  dataDir: string;
  /** A PostgreSQL URL shared by several hub processes; default: the SQLite file in `dataDir`. */
  database?: string | undefined;
  tokenLifetimeSec: number;
  log: Logger;
  clock?: Clock;
  gate?: GateOptions;
  /** Webhook delivery tuning (tests); the defaults suit production. */
  webhooks?: { pollMs?: number; timeoutMs?: number; leaseMs?: number; random?: () => number; userAgent?: string };
  /** Audit entries are kept this many days (at least 90; default 400), pruned only up to a signed checkpoint. */
  auditRetentionDays?: number;
  /** Large admin imports: rows per transaction, largest body, how many at once. */
  imports?: ImportsOptions;
  /** Group commit of the agents' event batches: events per commit (and a seam for tests). */
  ingest?: IngestOptions;
  /**
   * Relay the ERP feed to this RabbitMQ broker (docs/erp-feed.md#to-a-message-broker-rabbitmq); started by startHub.
   */
  amqp?:
    | {
        url: string;
        exchange?: string | undefined;
        batchSize?: number;
        pollMs?: number;
        leaseMs?: number;
        owner?: string;
      }
    | undefined;
}

/**
 * Every hub service wired to one storage: the composition root's product. The admin API and the
 * agents' endpoint are given only `useCases` and `queries`; the rest is for the hub's own timers,
 * the CLI's local commands and tests.
 */
export interface Hub {
  storage: HubStorage;
  clock: Clock;
  feed: ChangeFeed;
  /** The ERP feed (docs/erp-feed.md): every validated transaction and its consequences, in commit order. */
  erpFeed: Feed;
  /** The ERP feed's relay to RabbitMQ (when configured; startHub starts and stops it), and what it reports. */
  feedRelay: { relay: AmqpRelay | undefined; status(): RelayStatus | null };
  audit: AuditLog;
  stores: Stores;
  credentials: Credentials;
  /** the operator console's sessions (every hub process on the database shares them) */
  consoleSessions: ConsoleSessionRows;
  tokens: AccessTokens;
  ledger: InventoryLedger;
  sales: Sales;
  saleService: SaleService;
  returnsRepo: ReturnsRepo;
  engine: ReturnsEngine;
  reconciler: OfflineReconciler;
  completion: ReturnCompletion;
  resolution: ExceptionResolution;
  policies: Policies;
  managers: Managers;
  authzStats: AuthzStats;
  /** What happened across the fleet lately (decisions, events applied, webhook deliveries): the console's timeline. */
  activity: Activity;
  keys: KeyRotation;
  /** One-time enrollment codes (stores enroll; POST /v1/enroll). */
  enrollments: Enrollments;
  syncConfig: VersionedSettings<SyncSettings>;
  accuracy: InventoryAccuracy;
  gate: Gate;
  /** Key of the keyed hash of card numbers, sent to agents. */
  cardKey: Buffer;
  exceptions: Exceptions;
  cursors: Cursors;
  /** Restored, reverted and copied agent databases (DESIGN rule 9): audited, flagged. */
  copies: AgentCopies;
  applier: EventApplier;
  /** Registers' business days reconciled against what the hub recorded (docs/reconciliation.md). */
  registerDays: DayReconciliation;
  /** The agents' event batches, queued and committed together (group commit), acknowledged once durable. */
  ingest: IngestQueue;
  presence: Presence;
  /** The lowest agent version the operator wants (flagged in status). */
  agentVersions: AgentVersionFloor;
  terminals: Terminals;
  /** What the domain announces (inside its transactions); webhooks listen. */
  events: HubEvents;
  webhooks: Webhooks;
  /** Export, signed checkpoints, retention and verification of the audit log. */
  auditTrail: AuditTrail;
  /** Admin imports (inventory CSV, sales JSON lines): streamed, checked, applied in chunks. */
  imports: Imports;
  /** What the admin API and the agents' connections call: each change one unit of work (usecases/). */
  useCases: UseCases;
  /** The reads of the admin API. */
  queries: AdminQueries;
  close(): void;
}

/**
 * The database remembers a check value of the secret it was created with; a hub process whose
 * hub.secret is another one (a second process given a fresh data directory) is refused before it
 * can issue tokens no other process accepts or fail to read what the others sealed.
 */
function checkSecretBelongs(storage: HubStorage, secrets: HubSecrets): void {
  const check = secretCheck(secrets);
  storage.tx(() => {
    const row = storage.db.prepare(`SELECT value FROM meta WHERE key = 'secret_check'`).get() as
      { value: string } | undefined;
    if (!row) storage.db.prepare(`INSERT INTO meta (key, value) VALUES ('secret_check', ?)`).run(check);
    else if (row.value !== check) {
      throw new TbError(
        TbCodes.CONFIG,
        `the hub.secret in this data directory is not the one ${storage.location} was created with: ` +
          `every hub process on one database needs the same hub.secret ` +
          `(copy it from the data directory of the process that ran init)`,
      );
    }
  });
}

export function openHub(opts: HubServiceOptions): Hub {
  const clock = opts.clock ?? systemClock;
  const storage = openHubStorage(opts.dataDir, { database: opts.database, log: opts.log });
  let secrets;
  try {
    secrets = loadSecrets(opts.dataDir);
    checkSecretBelongs(storage, secrets);
  } catch (err) {
    storage.close();
    throw err;
  }
  const feed = new ChangeFeed(storage);
  const audit = new AuditLog(storage, clock);
  const stores = new Stores(storage, clock);
  const credentials = new Credentials(storage, secrets, clock);
  const tokens = new AccessTokens(secrets.tokenKey, opts.tokenLifetimeSec, () => clock.now());
  const sales = new Sales(storage);
  const returnsRepo = new ReturnsRepo(storage);
  const events = new HubEvents();
  const config = syncConfig(storage, audit, clock);
  events.bind(returnsRepo, sales, (store) => config.effective(store).value.refusedEvents === 'exception+webhook');
  const webhooks = new Webhooks({
    storage,
    audit,
    clock,
    log: opts.log,
    sealKey: secrets.webhookKey,
    ...opts.webhooks,
  });
  const erpFeed = new Feed(storage, clock, (store) => config.effective(store).value.timeZone);
  config.onChange((scope) => erpFeed.zoneChanged(scope));
  events.attach({
    records: true,
    wants: (type) => erpFeed.wants(type),
    take: (e) => erpFeed.take(e),
    together: (fn) => erpFeed.together(fn),
  });
  events.attach({ wants: (type, store) => webhooks.wants(type, store), take: (e) => webhooks.emit(e) });
  const relay = opts.amqp
    ? new AmqpRelay(storage, erpFeed, { ...opts.amqp, log: opts.log.child({ part: 'feed-relay' }), clock })
    : undefined;
  const ledger = new InventoryLedger(storage, clock, feed, events);
  const saleService = new SaleService(sales, ledger, audit, clock, events);
  const exceptions = new Exceptions(storage, clock, events);
  const policies = new Policies(storage, audit, clock);
  const managers = new Managers(storage, secrets.credentialKey, clock);
  const engine = new ReturnsEngine(storage, sales, returnsRepo, ledger, policies, managers, audit, clock, events);
  const reconciler = new OfflineReconciler(sales, returnsRepo, engine, policies, exceptions, audit, clock, events);
  const completion = new ReturnCompletion(storage, sales, returnsRepo, ledger, audit, exceptions, clock, events);
  const resolution = new ExceptionResolution(storage, returnsRepo, sales, ledger, audit, clock, events);
  const cursors = new Cursors(storage, clock);
  const applier = new EventApplier(
    storage,
    cursors,
    saleService,
    reconciler,
    completion,
    exceptions,
    audit,
    opts.log.child({ part: 'applier' }),
    clock,
  );
  const registerDays = new DayReconciliation(
    storage,
    exceptions,
    audit,
    events,
    clock,
    (store) => config.effective(store).value.timeZone,
    opts.log.child({ part: 'reconcile' }),
  );
  applier.reconcileDays(registerDays);
  const ingest = new IngestQueue(applier, opts.log.child({ part: 'ingest' }), opts.ingest);
  const auditTrail = new AuditTrail(
    storage,
    audit,
    clock,
    { dataDir: opts.dataDir, retentionDays: opts.auditRetentionDays ?? 400 },
    opts.log.child({ part: 'audit' }),
  );
  const parts: Omit<Hub, 'useCases' | 'queries'> = {
    storage,
    clock,
    feed,
    erpFeed,
    feedRelay: { relay, status: () => relay?.status() ?? null },
    audit,
    stores,
    credentials,
    consoleSessions: new ConsoleSessionRows(storage),
    tokens,
    ledger,
    sales,
    saleService,
    returnsRepo,
    engine,
    reconciler,
    completion,
    resolution,
    policies,
    managers,
    authzStats: new AuthzStats(storage, clock),
    activity: new Activity(storage),
    keys: new KeyRotation(storage, credentials, audit, clock),
    enrollments: new Enrollments(storage, secrets.credentialKey, credentials, audit, clock),
    syncConfig: config,
    accuracy: new InventoryAccuracy(storage, ledger, clock),
    gate: new Gate(opts.gate ?? DEFAULT_GATE, audit, clock),
    cardKey: secrets.cardKey,
    exceptions,
    cursors,
    copies: new AgentCopies(storage, exceptions, audit),
    applier,
    registerDays,
    ingest,
    presence: new Presence(stores),
    agentVersions: new AgentVersionFloor(storage),
    terminals: new Terminals(storage, clock, events),
    events,
    webhooks,
    auditTrail,
    // a signed checkpoint every 1000 audit entries, whoever wrote them
    imports: new Imports(storage, audit, feed, clock, opts.log.child({ part: 'imports' }), opts.imports, () =>
      auditTrail.nudge(),
    ),
    close: () => {
      ingest.close(); // what is queued is not acknowledged: the agents send it again
      storage.close();
    },
  };
  const { queries, ...useCases } = wireUseCases(parts);
  return { ...parts, useCases, queries };
}
