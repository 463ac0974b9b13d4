import { returnableLines, type ReceiptReply } from '@tillbridge/shared';
import type { CoreContext } from './core-context.js';

/**
 * A receipt and what is still returnable per line: from the hub when it answers in time (every
 * store and channel counted; by card, every sale paid with it in the return window), else from
 * what this agent knows.
 */
export class ReceiptLookup {
  constructor(private readonly context: CoreContext) {}

  async lookup(
    id: string,
    query: { receipt: string; originalStore?: string } | { cardHash: string },
  ): Promise<ReceiptReply> {
    const { hub, log, receipts, returns } = this.context.deps;
    const receipt = 'receipt' in query ? query.receipt : '';
    const originalStore = 'receipt' in query ? query.originalStore : undefined;
    if (hub.connected) {
      try {
        // by card: every queued sale may be one paid with it
        const after = this.context.queuedSeqFor('receipt' in query ? query.receipt : undefined, !('receipt' in query));
        const r = await hub.lookupReceipt({ ...query, after }, this.context.deadline());
        const reply: ReceiptReply = {
          type: 'receipt',
          id,
          receipt: r.receipt,
          found: r.found,
          source: 'hub',
          lines: r.lines,
        };
        if (r.store) reply.store = r.store;
        if (r.currency) reply.currency = r.currency;
        if (r.at) reply.at = r.at;
        if (r.matches) reply.matches = r.matches;
        if (r.code) reply.code = r.code;
        return reply;
      } catch (err) {
        log.warn({ err }, 'receipt lookup: answering from the local copy');
      }
    }
    const cached = receipt ? receipts.find(receipt) : undefined;
    // what this agent holds under that number may be another store's receipt
    const known = cached && (originalStore === undefined || cached.store === originalStore) ? cached : undefined;
    if (!known) return { type: 'receipt', id, receipt, found: false, source: 'local', lines: [] };
    const claimed = returns.claimedByLine(receipt);
    const reply: ReceiptReply = {
      type: 'receipt',
      id,
      receipt,
      found: true,
      source: 'local',
      store: known.store,
      currency: known.currency,
      lines: returnableLines(known.lines, claimed),
    };
    if (known.at) reply.at = known.at;
    return reply;
  }
}
