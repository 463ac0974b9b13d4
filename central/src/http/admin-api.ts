import type { AdminApi } from '../usecases/index.js';
import type { Router } from './router.js';
import { auditRoutes } from './admin/audit.js';
import { inventoryRoutes } from './admin/inventory.js';
import { policyRoutes } from './admin/policies.js';
import { returnRoutes } from './admin/returns.js';
import { saleRoutes } from './admin/sales.js';
import { statusRoutes } from './admin/status.js';
import { storeRoutes } from './admin/stores.js';
import { keyRoutes } from './admin/keys.js';
import { configRoutes } from './admin/config.js';
import { webhookRoutes } from './admin/webhooks.js';
import { importRoutes } from './admin/imports.js';
import { feedRoutes } from './admin/feed.js';
import { feedPoslogRoutes } from './admin/feed-poslog.js';
import { reconcileRoutes } from './admin/reconcile.js';

/**
 * The JSON admin API under /v1/admin, used by `tillbridge-hub`. Every request carries an admin
 * token; `operator` tokens may only read. Every change is audited with the token's identity.
 */
export function adminRoutes(router: Router, api: AdminApi): void {
  storeRoutes(router, api);
  keyRoutes(router, api);
  inventoryRoutes(router, api);
  saleRoutes(router, api);
  returnRoutes(router, api);
  policyRoutes(router, api);
  configRoutes(router, api);
  statusRoutes(router, api);
  auditRoutes(router, api);
  webhookRoutes(router, api);
  importRoutes(router, api);
  feedRoutes(router, api);
  feedPoslogRoutes(router, api);
  reconcileRoutes(router, api);
}
