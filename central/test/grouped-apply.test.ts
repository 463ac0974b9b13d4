import { afterEach, describe, expect, it } from 'vitest';
import type { WireEvent } from '@tillbridge/shared';
import type { BatchInput, BatchOutcome } from '../src/domain/event-applier.js';
import type { SqlDb } from '../src/storage/index.js';
import { poisonSalesInsert, testHub, wireSale, wireUnknownCompletion } from './helpers.js';
import { appliedRows, expectLedgerHolds, rowsOf } from './applied-rows.js';

/**
 * The group commit writes the new sales of all the batches it takes in a few multi-row statements
 * (`EventApplier.applyGrouped`), and falls back to applying each batch on its own in a savepoint
 * when anything in the group fails. Each case runs the same batches through both paths, on two
 * hubs (SQLite, or PostgreSQL with TILLBRIDGE_TEST_BACKEND=postgres), and expects the same
 * outcomes and the same rows — sales, lines, cards, movements, inventory, audit entries (in the
 * same order, each hub's chain verified), applied events, cursors, exceptions, webhook messages.
 */

const hubs: ReturnType<typeof testHub>[] = [];
afterEach(() => {
  for (const h of hubs.splice(0)) h.cleanup();
});

function hub(grouped: boolean, setup?: (db: SqlDb, engine: string) => void): ReturnType<typeof testHub> {
  const t = testHub();
  hubs.push(t);
  t.hub.applier.grouped = grouped;
  for (const s of ['S1', 'S2', 'S3', 'S4']) t.hub.stores.create(s, s);
  // every inventory change is announced (a webhook message per movement, with the on-hand it left)
  t.hub.webhooks.add({ url: 'https://erp.example/hook', events: ['inventory.adjusted', 'return.exception'] }, 'test');
  setup?.(t.hub.storage.db, t.hub.storage.engine);
  return t;
}

/** A sale of several lines (SKUs repeat across sales and within one), paid partly by card. */
function sale(seq: number, id: string, receipt: string, lines: [string, number][] = [['A', 1]]): WireEvent {
  const base = wireSale(seq, id, receipt);
  return {
    ...base,
    body: {
      ...(base.body as object),
      lines: lines.map(([sku, qty], i) => ({ line: i + 1, sku, qty, unitPrice: 250 })),
      tenders: [
        { kind: 'card', amount: 100, panHash: `h-${receipt}` },
        { kind: 'card', amount: 100, panHash: `h-${receipt}` },
        { kind: 'cash', amount: 50 },
      ],
    },
  };
}

/** Everything the apply path writes, in a form both engines and both paths compare on. */
function dump(db: SqlDb): Record<string, unknown[]> {
  const q = rowsOf(db);
  return {
    ...appliedRows(db),
    // the hashes differ between the two hubs from the first entry on (the webhook's id is random);
    // each hub's chain is verified on its own
    audit: q(
      `SELECT id, at, actor, action, store, register, outcome, resource, details, origin
         FROM audit WHERE action NOT LIKE 'webhook%' ORDER BY id`,
    ),
    exceptions: q(`SELECT store, register, event_id, kind, code, reason FROM exceptions ORDER BY event_id`),
    attempts: q(`SELECT event_id, agent_id, attempts, last_error FROM event_attempts ORDER BY event_id`),
    // the ERP feed: the same entries in the same order (ids are random, positions may have gaps from a fallback)
    feed: q(`SELECT type, store, business_day, at, recorded_at, data FROM feed ORDER BY position`).map((r) => {
      // an exception's id is random
      const { id: _exceptionId, ...data } = JSON.parse((r as { data: string }).data) as Record<string, unknown>;
      return { ...(r as object), data };
    }),
  };
}

/** Runs `rounds` (each a group) on a grouped hub and an ungrouped one; returns both hubs' outcomes. */
function both(rounds: BatchInput[][], setup?: (db: SqlDb, engine: string) => void) {
  const g = hub(true, setup);
  const one = hub(false, setup);
  const announced: [string, string[]][] = [];
  g.hub.feed.onInventory((store, skus) => announced.push([store, skus]));
  const summary = (o: BatchOutcome[]) => o.map((x) => (x.ok ? x.result : { failed: (x.error as Error).message }));
  const out = rounds.map((r) => ({
    grouped: summary(g.hub.applier.applyBatches(r)),
    single: summary(one.hub.applier.applyBatches(r)),
  }));
  for (const o of out) expect(o.grouped).toEqual(o.single);
  expect(dump(g.hub.storage.db)).toEqual(dump(one.hub.storage.db));
  for (const t of [g, one]) {
    expect(t.hub.auditTrail.verify().ok).toBe(true);
    expect(expectLedgerHolds(t)).toBeGreaterThan(0);
  }
  return { g, one, out: out.map((o) => o.grouped), announced, fallbacks: g.hub.applier.groupFallbacks };
}

const batch = (store: string, items: WireEvent[], agentId = `agent-${store}`, incarnation = 'i1'): BatchInput => ({
  store,
  agentId,
  incarnation,
  items,
  origin: `agent:${agentId}`,
});

describe('the group commit of many agents’ batches, written together', () => {
  it('writes what applying each event on its own writes: sales, ledger, audit chain, cursors, announcements', () => {
    const { g, out, announced, fallbacks } = both([
      [
        batch('S1', [
          sale(1, 'S1-e1', 'S1-1', [
            ['A', 1],
            ['B', 2],
            ['A', 0.5],
          ]),
          sale(2, 'S1-e2', 'S1-2', [['A', 3]]),
        ]),
        batch('S2', [sale(1, 'S2-e1', 'S2-1', [['A', 1]]), sale(2, 'S2-e2', 'S2-2', [['C', 1.25]])]),
        // the same receipt number at another store is another sale
        batch('S3', [sale(1, 'S3-e1', 'S1-1', [['A', 2]])]),
      ],
      [
        // the next batches of the same agents, and a batch resent whole (duplicates by id)
        batch('S1', [sale(3, 'S1-e3', 'S1-3', [['B', 1]])]),
        batch('S2', [sale(1, 'S2-e1', 'S2-1'), sale(2, 'S2-e2', 'S2-2')]),
      ],
    ]);
    expect(fallbacks).toBe(0); // both groups written together
    expect(out[0]!.map((r) => (r as { upTo: number }).upTo)).toEqual([2, 2, 1]);
    expect((out[1]![1] as { results: { outcome: string }[] }).results.map((r) => r.outcome)).toEqual([
      'duplicate',
      'duplicate',
    ]);
    expect(g.hub.ledger.get('S1', 'A')?.onHand).toBe(-4500);
    expect(g.hub.cursors.cursor('agent-S1')).toEqual({ store: 'S1', incarnation: 'i1', lastSeq: 3 });
    // a card paid twice on one sale is one row; no PAN anywhere, only its keyed hash
    expect(g.hub.sales.findByCard('h-S1-1', '2000-01-01')).toHaveLength(2);
    // each store whose inventory changed is announced after the commit
    expect(new Set(announced.map(([s]) => s))).toEqual(new Set(['S1', 'S2', 'S3']));
    // the audit entries name the agent whose frame brought them
    expect(g.hub.audit.tail(1)[0]).toMatchObject({
      action: 'sale.record',
      origin: 'agent:agent-S1',
      resource: 'sale:S1-3',
    });
  });

  it('keeps refusals, duplicates and other kinds in the order of the events, among the sales written together', () => {
    const { g, out, fallbacks } = both([
      [
        batch('S1', [
          sale(1, 'S1-e1', 'R1'),
          sale(2, 'S1-e2', 'R1'), // the store's receipt again, within the same batch: refused
          { ...sale(3, 'S1-e3', 'BAD'), body: { receipt: 'BAD' } }, // invalid body: refused
          { ...sale(4, 'S1-e4', 'K'), kind: 'teleport' }, // unknown kind: refused
          sale(5, 'S1-e5', 'R5'),
          wireUnknownCompletion(6, 'S1-e6'),
          sale(7, 'S1-e7', 'R7'),
          sale(7, 'S1-e7', 'R7'), // the same event twice in one batch
        ]),
        // a receipt another batch of the same group used first at the same store: refused
        batch('S1', [sale(1, 'S1b-e1', 'R5')], 'agent-S1b'),
        // an event another agent's batch in the group carries too (a copied database): a duplicate
        batch('S2', [sale(1, 'S2-e1', 'X')]),
        batch('S2', [sale(1, 'S2-e1', 'X')], 'agent-S2-copy'),
      ],
    ]);
    expect(fallbacks).toBe(0); // refusals are not failures: the group is still written together
    const codes = (i: number) =>
      (out[0]![i] as { results: { outcome: string; code?: string }[] }).results.map((r) => r.code ?? r.outcome);
    expect(codes(0)).toEqual([
      'applied',
      'duplicate_receipt',
      'invalid_event',
      'unknown_kind',
      'applied',
      'unknown_authorization',
      'applied',
      'duplicate',
    ]);
    expect(codes(1)).toEqual(['duplicate_receipt']);
    expect([codes(2), codes(3)]).toEqual([['applied'], ['duplicate']]);
    expect(
      g.hub.audit
        .tail(20)
        .map((e) => `${e.action}:${e.resource ?? ''}`)
        .filter((a) => /^(sale|teleport|return)/.test(a)),
    ).toEqual([
      'sale.record:sale:R1',
      'sale.refused:event:S1-e2',
      'sale.refused:event:S1-e3',
      'teleport.refused:event:S1-e4',
      'sale.record:sale:R5',
      'return.complete.refused:return:nope',
      'sale.record:sale:R7',
      'sale.refused:event:S1b-e1',
      'sale.record:sale:X',
    ]);
  });

  it('rolls back only the batch that fails, and counts the failure once, as each batch on its own does', () => {
    const { g, announced, fallbacks } = both(
      [
        [
          batch('S1', [sale(1, 'S1-e1', 'S1-1')]),
          batch('S2', [sale(1, 'S2-e1', 'S2-1'), sale(2, 'S2-e2', 'POISON'), sale(3, 'S2-e3', 'S2-3')]),
          // a later batch of the failed agent in the same group is not attempted
          batch('S2', [sale(4, 'S2-e4', 'S2-4')]),
          batch('S3', [sale(1, 'S3-e1', 'S3-1'), { ...sale(2, 'S3-e2', 'S3-bad'), body: { receipt: 'S3-bad' } }]),
          batch('S4', [
            sale(1, 'S4-e1', 'S4-1', [
              ['A', 1],
              ['B', 1],
            ]),
          ]),
        ],
      ],
      poisonSalesInsert,
    );
    expect(fallbacks).toBe(1);
    expect(g.hub.sales.get('S2', 'S2-1')).toBeUndefined();
    expect(g.hub.cursors.cursor('agent-S2')).toBeUndefined();
    expect(g.hub.sales.get('S4', 'S4-1')).toBeDefined();
    expect(dump(g.hub.storage.db).attempts).toMatchObject([{ event_id: 'S2-e2', attempts: 1 }]);
    // the stores whose sales committed are announced, though the group's first try was rolled back
    for (const s of ['S1', 'S3', 'S4']) expect(announced.map(([x]) => x)).toContain(s);
    expect(announced.find(([s]) => s === 'S4')?.[1].sort()).toEqual(['A', 'B']);
  });

  it('takes none of a forked history, and the rest of the group as usual', () => {
    const g1 = [batch('S1', [sale(1, 'S1-e1', 'S1-1'), sale(2, 'S1-e2', 'S1-2')])];
    // the same seqs, other events: a reverted copy of the agent's database
    const g2 = [
      batch('S2', [sale(1, 'S2-e1', 'S2-1')]),
      batch('S1', [sale(2, 'S1-other', 'S1-9')]),
      batch('S3', [sale(1, 'S3-e1', 'S3-1')]),
    ];
    const { g, out, fallbacks } = both([g1, g2]);
    expect(fallbacks).toBe(1);
    expect(out[1]![1]).toMatchObject({ failed: expect.stringMatching(/not the one the hub applied/) });
    expect([g.hub.sales.get('S2', 'S2-1'), g.hub.sales.get('S3', 'S3-1')].every(Boolean)).toBe(true);
    expect(g.hub.sales.get('S1', 'S1-9')).toBeUndefined();
  });

  it('writes a group larger than one statement takes (more than 256 rows a table)', () => {
    const big = Array.from({ length: 4 }, (_, s) =>
      batch(
        `S${s + 1}`,
        Array.from({ length: 90 }, (_, i) =>
          sale(i + 1, `S${s + 1}-e${i + 1}`, `S${s + 1}-${i + 1}`, [
            ['A', 1],
            [`K${i % 7}`, 2],
          ]),
        ),
      ),
    );
    const { g, fallbacks } = both([big]);
    expect(fallbacks).toBe(0);
    expect(g.hub.storage.db.prepare(`SELECT COUNT(*) AS n FROM sale_lines`).get()).toEqual({ n: 720 });
    expect(g.hub.auditTrail.verify()).toMatchObject({ ok: true });
  });
});
