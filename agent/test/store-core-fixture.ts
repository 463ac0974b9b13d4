import type { Logger } from '@tillbridge/shared';
import type { Db } from '../src/db/agent-db.js';
import { Outbox } from '../src/sync/outbox.js';
import { Replies } from '../src/core/replies.js';
import { Receipts } from '../src/core/receipts.js';
import { LocalReturns } from '../src/core/local-returns.js';
import { StoreCore } from '../src/core/store-core.js';
import { PolicyStore } from '../src/core/policy-store.js';
import { AuthzCounter } from '../src/core/authz-counters.js';
import type { StoreCoreDeps } from '../src/core/core-context.js';

/**
 * A store core on a real agent database for store S1, with its real outbox, replies, receipts,
 * local returns, policy store and counters; `over` replaces any of them (the hub double is the
 * test's own). The parts are returned so a test can look at them.
 */
export function storeCoreOn(
  db: Db,
  hub: StoreCoreDeps['hub'],
  log: Logger,
  over: Partial<StoreCoreDeps> = {},
): { core: StoreCore; deps: StoreCoreDeps } {
  const deps: StoreCoreDeps = {
    db,
    store: 'S1',
    agentId: 'agent-1',
    outbox: new Outbox(db),
    replies: new Replies(db),
    receipts: new Receipts(db),
    returns: new LocalReturns(db),
    hub,
    policy: new PolicyStore(db, 5000, log),
    counters: new AuthzCounter(),
    deadlineMs: 200,
    log,
    ...over,
  };
  return { core: new StoreCore(deps), deps };
}
