import type { Logger } from '@tillbridge/shared';
import { AccessTokens } from './auth/access-tokens.js';
import { Credentials } from './auth/credentials.js';
import { loadSecrets } from './auth/secrets.js';
import { AuditLog } from './domain/audit-log.js';
import { ChangeFeed } from './domain/change-feed.js';
import { systemClock, type Clock } from './domain/clock.js';
import { Cursors } from './domain/cursors.js';
import { EventApplier } from './domain/event-applier.js';
import { Exceptions } from './domain/exceptions.js';
import { InventoryLedger } from './domain/inventory-ledger.js';
import { ReturnsEngine } from './domain/returns-engine.js';
import { ReturnsRepo } from './domain/returns-repo.js';
import { Sales } from './domain/sales.js';
import { SaleService } from './domain/sale-service.js';
import { Stores } from './domain/stores.js';
import { Terminals } from './domain/terminals.js';
import { openHubStorage, type HubStorage } from './storage/sqlite.js';
import { Presence } from './sync/presence.js';

export interface HubServiceOptions {
  dataDir: string;
  reservationTtlMs: number;
  tokenLifetimeSec: number;
  log: Logger;
  clock?: Clock;
}

/** Every hub service wired to one storage: what the HTTP API, the agents' endpoint and the CLI use. */
export interface Hub {
  storage: HubStorage;
  clock: Clock;
  feed: ChangeFeed;
  audit: AuditLog;
  stores: Stores;
  credentials: Credentials;
  tokens: AccessTokens;
  ledger: InventoryLedger;
  sales: Sales;
  saleService: SaleService;
  returnsRepo: ReturnsRepo;
  engine: ReturnsEngine;
  exceptions: Exceptions;
  cursors: Cursors;
  applier: EventApplier;
  presence: Presence;
  terminals: Terminals;
  close(): void;
}

export function openHub(opts: HubServiceOptions): Hub {
  const clock = opts.clock ?? systemClock;
  const storage = openHubStorage(opts.dataDir);
  const secrets = loadSecrets(opts.dataDir);
  const feed = new ChangeFeed();
  const audit = new AuditLog(storage, clock);
  const stores = new Stores(storage, clock);
  const credentials = new Credentials(storage, secrets, clock);
  const tokens = new AccessTokens(secrets.tokenKey, opts.tokenLifetimeSec, () => clock.now());
  const ledger = new InventoryLedger(storage, clock, feed);
  const sales = new Sales(storage);
  const saleService = new SaleService(sales, ledger, audit, clock);
  const returnsRepo = new ReturnsRepo(storage);
  const exceptions = new Exceptions(storage, clock);
  const engine = new ReturnsEngine(storage, sales, returnsRepo, ledger, audit, exceptions, clock, { reservationTtlMs: opts.reservationTtlMs });
  const cursors = new Cursors(storage, clock);
  const applier = new EventApplier(storage, cursors, saleService, engine, exceptions, audit, feed, opts.log.child({ part: 'applier' }));
  return {
    storage,
    clock,
    feed,
    audit,
    stores,
    credentials,
    tokens,
    ledger,
    sales,
    saleService,
    returnsRepo,
    engine,
    exceptions,
    cursors,
    applier,
    presence: new Presence(),
    terminals: new Terminals(storage, clock),
    close: () => storage.close(),
  };
}
