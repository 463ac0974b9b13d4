import { expect } from 'vitest';
import type { SqlDb } from '../src/storage/index.js';
import type { TestHub } from './helpers.js';

/** A query's rows as plain objects (PostgreSQL's and SQLite's row objects compare alike). */
export function rowsOf(db: SqlDb): (sql: string) => unknown[] {
  return (sql) =>
    db
      .prepare(sql)
      .all()
      .map((r) => ({ ...(r as object) }));
}

/**
 * What applying agents' events writes that two hubs given the same events must hold alike, whatever order or grouping
 * they were applied in: sales and their lines and cards, movements and on-hand, each event's outcome, the agents'
 * cursors and incarnations, and the webhook messages as a multiset (their ids are random). The audit, the exceptions
 * and the ERP feed each test compares in the order it promises, so they are left to the test.
 */
export function appliedRows(db: SqlDb): Record<string, unknown[]> {
  const q = rowsOf(db);
  return {
    sales: q(
      `SELECT store, receipt, register, channel, at, currency, total, tenders, event_id, created_at
         FROM sales ORDER BY store, receipt`,
    ),
    lines: q(`SELECT store, receipt, line, sku, qty, unit_price FROM sale_lines ORDER BY store, receipt, line`),
    cards: q(`SELECT pan_hash, store, receipt FROM sale_cards ORDER BY pan_hash, store, receipt`),
    movements: q(`SELECT store, sku, delta, kind, ref, at FROM movements ORDER BY store, sku, kind, ref, delta, at`),
    inventory: q(`SELECT store, sku, on_hand, updated_at FROM inventory ORDER BY store, sku`),
    applied: q(
      `SELECT event_id, store, agent_id, incarnation, seq, kind, register, outcome, code, agent_at, applied_at
         FROM applied_events ORDER BY event_id`,
    ),
    cursors: q(`SELECT agent_id, store, incarnation, last_seq, updated_at FROM agent_cursors ORDER BY agent_id`),
    incarnations: q(
      `SELECT agent_id, incarnation, store, last_seq, started_at, updated_at
         FROM agent_incarnations ORDER BY agent_id, incarnation`,
    ),
    webhooks: (db.prepare(`SELECT type, store, body FROM webhook_messages`).all() as { body: string }[])
      .map((r) => {
        const body = JSON.parse(r.body) as { data: { id?: string } };
        delete body.data.id; // an exception's id is random
        return { ...r, body };
      })
      .sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1)),
  };
}

/** The ledger's rule: each on-hand is the sum of its movements. How many on-hands it checked. */
export function expectLedgerHolds(t: TestHub): number {
  const rows = t.hub.storage.db.prepare(`SELECT store, sku, on_hand FROM inventory`).all() as {
    store: string;
    sku: string;
    on_hand: number;
  }[];
  for (const r of rows) expect(r.on_hand, `${r.store} ${r.sku}`).toBe(t.hub.ledger.sumOfMovements(r.store, r.sku));
  return rows.length;
}
