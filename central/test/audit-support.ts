import { ChainWalker, type ChainProblem } from '../src/audit/chain-walker.js';
import { GENESIS_HASH, type AuditInput } from '../src/domain/audit-log.js';
import type { Hub } from '../src/hub-services.js';

/** The I-th of many audited sales of store S1 at register R1 (resource sale:I). */
export const saleEntry = (i: number): AuditInput => ({
  actor: 'store:S1',
  action: 'sale',
  outcome: 'applied',
  store: 'S1',
  register: 'R1',
  resource: `sale:${i}`,
  details: { i },
});

/** Appends `n` audit entries in one transaction: `entry(0)` to `entry(n - 1)`, by default audited sales. */
export function appendEntries(hub: Hub, n: number, entry: (i: number) => AuditInput = saleEntry): void {
  hub.storage.tx(() => {
    for (let i = 0; i < n; i++) hub.audit.append(entry(i));
  });
}

/**
 * The audit chain as it is stored, walked by its links alone from the genesis hash (no
 * checkpoint): the first problem found, if any, and how many entries were walked.
 */
export function walkFromGenesis(hub: Hub): { problem: ChainProblem | undefined; count: number } {
  const walker = new ChainWalker({ anchor: { id: 0, hash: GENESIS_HASH } });
  const problem = hub.audit
    .after(0, 2000)
    .map((e) => walker.push(e))
    .find(Boolean);
  return { problem, count: walker.count };
}
