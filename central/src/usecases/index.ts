import { AdminAccess, AgentTokenUseCases, type AdminAccessDeps, type AgentTokenDeps } from './access.js';
import { AgentUseCases, type AgentUseCaseDeps } from './agents.js';
import { AuditUseCases, type AuditUseCaseDeps } from './audit.js';
import { FeedUseCases, type FeedUseCaseDeps } from './feed.js';
import { ImportUseCases, InventoryUseCases, type ImportUseCaseDeps, type InventoryUseCaseDeps } from './inventory.js';
import { adminQueries, type AdminQueries } from './queries.js';
import { ReturnUseCases, type ReturnUseCaseDeps } from './returns.js';
import { SettingsUseCases, type SettingsUseCaseDeps } from './settings.js';
import { StoreUseCases, type StoreUseCaseDeps } from './stores.js';
import { TokenUseCases, type TokenUseCaseDeps } from './tokens.js';
import type { UnitOfWork } from './unit-of-work.js';
import { WebhookUseCases, type WebhookUseCaseDeps } from './webhooks.js';
import { EnrollmentUseCases, type EnrollmentUseCaseDeps } from './enrollments.js';

export { AdminAccess, AgentTokenUseCases } from './access.js';
export { AgentUseCases, type Connection, type TokenCheck } from './agents.js';
export { AuditUseCases } from './audit.js';
export { FeedUseCases } from './feed.js';
export { ImportUseCases, InventoryUseCases } from './inventory.js';
export type { AdminQueries } from './queries.js';
export { ReturnUseCases } from './returns.js';
export { SettingsUseCases, type SettingsChangeOptions } from './settings.js';
export { StoreUseCases } from './stores.js';
export { TokenUseCases } from './tokens.js';
export type { UnitOfWork } from './unit-of-work.js';
export { WebhookUseCases } from './webhooks.js';
export { EnrollmentUseCases } from './enrollments.js';

/** Every use case of the hub: what the admin API and the agents' connections call. */
export interface UseCases {
  access: AdminAccess;
  stores: StoreUseCases;
  tokens: TokenUseCases;
  settings: SettingsUseCases;
  inventory: InventoryUseCases;
  imports: ImportUseCases;
  returns: ReturnUseCases;
  webhooks: WebhookUseCases;
  audit: AuditUseCases;
  feed: FeedUseCases;
  agents: AgentUseCases;
  /** Agents' access tokens (POST /v1/token). */
  agentTokens: AgentTokenUseCases;
  /** One-time enrollment codes (stores enroll; POST /v1/enroll). */
  enrollments: EnrollmentUseCases;
}

/** What the admin API is given: its use cases, and the reads. */
export type AdminApi = Omit<UseCases, 'agents' | 'agentTokens'> & { queries: AdminQueries };

/** The services the use cases are wired from (the composition root's: `openHub`). */
export type UseCaseParts = { storage: UnitOfWork } & Omit<
  AdminAccessDeps &
    AgentTokenDeps &
    StoreUseCaseDeps &
    TokenUseCaseDeps &
    SettingsUseCaseDeps &
    InventoryUseCaseDeps &
    ImportUseCaseDeps &
    ReturnUseCaseDeps &
    WebhookUseCaseDeps &
    AgentUseCaseDeps &
    FeedUseCaseDeps &
    EnrollmentUseCaseDeps,
  'uow'
> &
  AdminQueries & { auditTrail: { checkpoints: AuditUseCaseDeps['checkpoints'] } };

/** Each use case given the narrow part of `p` it needs, all on one unit of work (the storage's transaction). */
export function wireUseCases(p: UseCaseParts): UseCases & { queries: AdminQueries } {
  const uow = p.storage;
  return {
    access: new AdminAccess({ credentials: p.credentials, gate: p.gate }),
    stores: new StoreUseCases({
      uow,
      stores: p.stores,
      credentials: p.credentials,
      keys: p.keys,
      audit: p.audit,
      agentVersions: p.agentVersions,
    }),
    tokens: new TokenUseCases({ uow, credentials: p.credentials, audit: p.audit }),
    settings: new SettingsUseCases({
      uow,
      policies: p.policies,
      syncConfig: p.syncConfig,
      managers: p.managers,
      audit: p.audit,
    }),
    inventory: new InventoryUseCases({ uow, ledger: p.ledger, audit: p.audit }),
    imports: new ImportUseCases({
      imports: p.imports,
      stores: p.stores,
      ledger: p.ledger,
      storage: p.storage,
      saleService: p.saleService,
      cardKey: p.cardKey,
    }),
    returns: new ReturnUseCases({ uow, engine: p.engine, resolution: p.resolution }),
    webhooks: new WebhookUseCases({ uow, webhooks: p.webhooks }),
    audit: new AuditUseCases({ uow, checkpoints: p.auditTrail.checkpoints }),
    feed: new FeedUseCases({ uow, erpFeed: p.erpFeed, audit: p.audit }),
    agents: new AgentUseCases({
      uow,
      clock: p.clock,
      tokens: p.tokens,
      stores: p.stores,
      credentials: p.credentials,
      audit: p.audit,
      cursors: p.cursors,
      copies: p.copies,
      policies: p.policies,
      syncConfig: p.syncConfig,
      ledger: p.ledger,
      accuracy: p.accuracy,
      authzStats: p.authzStats,
      terminals: p.terminals,
      presence: p.presence,
      ingest: p.ingest,
      cardKey: p.cardKey,
      registerDays: p.registerDays,
    }),
    agentTokens: new AgentTokenUseCases({ gate: p.gate, credentials: p.credentials, tokens: p.tokens }),
    enrollments: new EnrollmentUseCases({ enrollments: p.enrollments, stores: p.stores, keys: p.keys, gate: p.gate }),
    queries: adminQueries(p),
  };
}
