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
 * test's own). The parts are returned so a test can look at them. `over.now`, the test's clock, is every part's:
 * what they write (a return's time, a reply's age) is read against it, as in the agent.
 */
export function storeCoreOn(
  db: Db,
  hub: StoreCoreDeps['hub'],
  log: Logger,
  over: Partial<StoreCoreDeps> = {},
): { core: StoreCore; deps: StoreCoreDeps } {
  const now = over.now;
  const deps: StoreCoreDeps = {
    db,
    store: 'S1',
    agentId: 'agent-1',
    outbox: new Outbox(db, now),
    replies: new Replies(db, now),
    receipts: new Receipts(db, now),
    returns: new LocalReturns(db, now),
    hub,
    policy: new PolicyStore(db, 5000, log),
    counters: new AuthzCounter(now),
    deadlineMs: 200,
    log,
    ...over,
  };
  return { core: new StoreCore(deps), deps };
}
