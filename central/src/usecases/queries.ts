import type { SyncSettings } from '@tillbridge/shared';
import type { AuditCheckpoints } from '../audit/checkpoints.js';
import type { AuditQuery } from '../audit/query.js';
import type { AuditTrail } from '../audit/trail.js';
import type { Credentials } from '../auth/credentials.js';
import type { AuditLog } from '../domain/audit-log.js';
import type { Activity } from '../domain/activity.js';
import type { AuthzStats } from '../domain/authz-stats.js';
import type { Clock } from '../domain/clock.js';
import type { Cursors } from '../domain/cursors.js';
import type { Exceptions } from '../domain/exceptions.js';
import type { Feed } from '../feed/feed.js';
import type { InventoryAccuracy } from '../domain/inventory-accuracy.js';
import type { InventoryLedger } from '../domain/inventory-ledger.js';
import type { KeyRotation } from '../domain/key-rotation.js';
import type { Managers } from '../domain/managers.js';
import type { Policies } from '../domain/policies.js';
import type { ReturnsRepo } from '../domain/returns-repo.js';
import type { Sales } from '../domain/sales.js';
import type { Stores } from '../domain/stores.js';
import type { Terminals } from '../domain/terminals.js';
import type { VersionedSettings } from '../domain/versioned-settings.js';
import type { Imports } from '../imports/imports.js';
import type { DayReconciliation } from '../reconcile/day-reconciliation.js';
import type { Presence } from '../sync/presence.js';
import type { AgentVersionFloor } from '../domain/agent-versions.js';
import type { Webhooks } from '../webhooks/webhooks.js';
import type { RelayStatus } from '../feed/amqp-relay.js';

/**
 * What the admin API reads: the read-only parts of the domain services and repositories, and
 * nothing else (every change goes through a use case). Reads open no unit of work.
 */
export interface AdminQueries {
  clock: Clock;
  stores: Pick<Stores, 'get' | 'list'>;
  presence: Pick<Presence, 'get' | 'count'>;
  credentials: Pick<Credentials, 'listKeys' | 'listAdminTokens'>;
  keys: Pick<KeyRotation, 'scheduleOf'>;
  ledger: Pick<InventoryLedger, 'get' | 'list'>;
  sales: Pick<Sales, 'named' | 'ofReturn'>;
  returnsRepo: Pick<
    ReturnsRepo,
    'claimedByLine' | 'forSale' | 'exchangeReservedByStore' | 'lines' | 'page' | 'get' | 'exchanges'
  >;
  exceptions: Pick<Exceptions, 'forAuthorization' | 'forStore'>;
  policies: Pick<Policies, 'defaultPolicy' | 'effective' | 'list'>;
  syncConfig: Pick<VersionedSettings<SyncSettings>, 'defaults' | 'effective' | 'list'>;
  managers: Pick<Managers, 'list'>;
  webhooks: Pick<Webhooks, 'list' | 'get' | 'deliveries' | 'delivery' | 'disabledEndpoints'>;
  imports: Pick<Imports, 'list' | 'get'>;
  audit: Pick<AuditLog, 'after' | 'tail' | 'lastId'>;
  auditTrail: Pick<AuditTrail, 'verify'> & {
    query: Pick<AuditQuery, 'page'>;
    checkpoints: Pick<AuditCheckpoints, 'list' | 'latest' | 'get' | 'file' | 'publicKey'>;
  };
  authzStats: Pick<AuthzStats, 'rate'>;
  activity: Pick<Activity, 'decisionsSince' | 'appliedSince' | 'deliveriesSince'>;
  cursors: Pick<Cursors, 'latestForStore'>;
  accuracy: Pick<InventoryAccuracy, 'get'>;
  terminals: Pick<Terminals, 'list'>;
  /** the ERP feed, read by position (pulls, exports) and its consumers */
  erpFeed: Pick<Feed, 'read' | 'head' | 'waitPast' | 'consumer' | 'consumers' | 'latestOf'>;
  /** The ERP feed's broker relay: lag, relayed, last error, connected (null: not configured). */
  feedRelay: { status(): RelayStatus | null };
  registerDays: Pick<DayReconciliation, 'list'>;
  /** the lowest agent version wanted (tillbridge-hub stores min-version) */
  agentVersions: Pick<AgentVersionFloor, 'get'>;
}

/** The services the admin queries hand out as they are (`feedRelay` and `agentVersions` are narrowed). */
const PLAIN_QUERIES = [
  'clock',
  'stores',
  'presence',
  'credentials',
  'keys',
  'ledger',
  'sales',
  'returnsRepo',
  'exceptions',
  'policies',
  'syncConfig',
  'managers',
  'webhooks',
  'imports',
  'audit',
  'auditTrail',
  'authzStats',
  'activity',
  'cursors',
  'accuracy',
  'terminals',
  'erpFeed',
  'registerDays',
] as const satisfies readonly (keyof AdminQueries)[];

/**
 * The read-only view of `parts` (the services themselves; the type keeps their writes out of reach): only the parts
 * named, whatever else `parts` holds.
 */
export function adminQueries(parts: AdminQueries): AdminQueries {
  const plain = Object.fromEntries(PLAIN_QUERIES.map((name) => [name, parts[name]])) as Pick<
    AdminQueries,
    (typeof PLAIN_QUERIES)[number]
  >;
  const { feedRelay, agentVersions } = parts;
  return {
    ...plain,
    feedRelay: { status: () => feedRelay.status() },
    agentVersions: { get: () => agentVersions.get() },
  };
}
