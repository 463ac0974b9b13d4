/**
 * Sales for the benches: a register's sale message, and for the hub's apply path flushes of every agent's batch of
 * sale events, applied.
 */
import type { WireEvent } from '@tillbridge/shared';
import type { Hub } from '@tillbridge/central';

type SaleBatches = Parameters<Hub['applier']['applyBatches']>[0];

/** An environment variable's value, or undefined when it is unset or empty. */
export function envOrUndefined(name: string): string | undefined {
  const value = process.env[name];
  return value === '' ? undefined : value;
}

/** One agent's sale `seq`, its receipt `${prefix}${agent}-${seq}`. */
export function saleEvent(prefix: string, seq: number, agent: number): WireEvent {
  const receipt = `${prefix}${agent}-${seq}`;
  return {
    seq,
    id: `ev-${agent}-${seq}`,
    kind: 'sale',
    register: 'R1',
    at: '2026-11-27T10:00:00.000Z',
    body: {
      requestId: `m-${receipt}`,
      receipt,
      at: '2026-11-27T10:00:00Z',
      currency: 'EUR',
      lines: [{ line: 1, sku: `SKU-${seq % 50}`, qty: 1, unitPrice: 1000 }],
      tenders: [{ kind: 'cash', amount: 1000 }],
    },
  };
}

/**
 * The next flush: agent a (store S{a}) sends its next `batch` sales, one agent per entry of `seqs` (each
 * agent's last sequence number, advanced here), as the ingest queue hands them to `applyBatches`.
 */
export function saleFlush(prefix: string, seqs: number[], batch: number): SaleBatches {
  return seqs.map((_, agent) => ({
    store: `S${agent}`,
    agentId: `agent-${agent}`,
    incarnation: 'inc-1',
    items: Array.from({ length: batch }, () => {
      const seq = (seqs[agent] ?? 0) + 1;
      seqs[agent] = seq;
      return saleEvent(prefix, seq, agent);
    }),
  }));
}

/** Applies a flush; throws the error of the first batch that failed. */
export function applyFlush(hub: Hub, batches: SaleBatches): void {
  for (const outcome of hub.applier.applyBatches(batches)) if (!outcome.ok) throw outcome.error;
}

/** A register's sale message (JSON lines codec): one unit of `sku` at 10.00 EUR, now. */
export function registerSale(id: string, receipt: string, sku = 'SKU-1'): Record<string, unknown> {
  return {
    type: 'sale',
    id,
    receipt,
    at: new Date().toISOString(),
    currency: 'EUR',
    lines: [{ line: 1, sku, qty: 1, unitPrice: 1000 }],
    tenders: [],
  };
}
