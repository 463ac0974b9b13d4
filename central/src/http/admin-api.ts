import type { Hub } from '../hub-services.js';
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


/**
 * The JSON admin API under /v1/admin, used by `tillbridge-hub`. Every request carries an admin
 * token; `operator` tokens may only read. Every change is audited with the token's identity.
 */
export function adminRoutes(router: Router, hub: Hub): void {
  storeRoutes(router, hub);
  keyRoutes(router, hub);
  inventoryRoutes(router, hub);
  saleRoutes(router, hub);
  returnRoutes(router, hub);
  policyRoutes(router, hub);
  configRoutes(router, hub);
  statusRoutes(router, hub);
  auditRoutes(router, hub);
  webhookRoutes(router, hub);
  importRoutes(router, hub);
}
