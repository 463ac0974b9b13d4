import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HUB_MIGRATIONS, SALES_BY_STORE } from '../src/storage/schema.js';
import { hubDbPath, openSqliteStorage, type SqliteHubStorage as HubStorage } from '../src/storage/index.js';
import { Sales } from '../src/domain/sales.js';
import { ReturnsRepo } from '../src/domain/returns-repo.js';
import { sqliteHubAt } from '../../test/support/schema-fixtures.js';

/** The migration that keys sales by store and receipt, run on a database at the version before it. */

let dir: string;
let storage: HubStorage | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-mig-'));
});
afterEach(() => {
  storage?.close();
  storage = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A hub database with every migration before the one under test, holding sales keyed by receipt alone. */
function databaseBefore(): void {
  const at = HUB_MIGRATIONS.indexOf(SALES_BY_STORE);
  expect(at).toBeGreaterThan(0);
  const db = sqliteHubAt(hubDbPath(dir), at);
  const t = '2026-11-27T09:00:00.000Z';
  db.exec(`
    INSERT INTO stores (id, name, created_at) VALUES ('S1', 'S1', '${t}'), ('S2', 'S2', '${t}');
    INSERT INTO sales (receipt, store, register, channel, at, currency, total, tenders, event_id, created_at) VALUES
      ('1001', 'S1', 'R1', 'store', '${t}', 'EUR', 3000,
       '[{"kind":"card","amount":3000,"panHash":"h1"}]', 'e1', '${t}'),
      ('W-9', 'S2', NULL, 'web', '${t}', 'EUR', 500, '[]', NULL, '${t}');
    INSERT INTO sale_lines (receipt, line, sku, qty, unit_price)
      VALUES ('1001', 1, 'A', 2000, 1000), ('1001', 2, 'B', 1000, 1000), ('W-9', 1, 'C', 1000, 500);
    INSERT INTO sale_cards (pan_hash, receipt) VALUES ('h1', '1001');
    INSERT INTO returns (authorization, store, register, request_id, receipt, mode, decision, status,
                         created_at, expires_at, updated_at, completed_at)
      VALUES ('ret-1', 'S2', 'R1', 'q1', '1001', 'online', 'approved', 'completed', '${t}', NULL, '${t}', '${t}'),
             ('ret-2', 'S2', 'R1', 'q2', '', 'online', 'approved', 'completed', '${t}', NULL, '${t}', '${t}'),
             ('ret-3', 'S1', 'R1', 'q3', 'GHOST', 'offline', 'approved', 'reserved',
              '${t}', '2099-01-01T00:00:00.000Z', '${t}', NULL);
    INSERT INTO return_lines (authorization, line, requested_qty, approved_qty, completed_qty, disposition, code)
      VALUES ('ret-1', 1, 1000, 1000, 1000, 'restock', 'ok');
  `);
  db.close();
}

describe('migration: sales keyed by store and receipt', () => {
  it('keeps every sale, line, card hash and return, now under the sale’s store', () => {
    databaseBefore();
    storage = openSqliteStorage(dir);
    const db = storage.raw;
    expect(db.pragma('user_version', { simple: true })).toBe(HUB_MIGRATIONS.length);
    expect(db.prepare(`SELECT store, receipt, total, event_id FROM sales ORDER BY store`).all()).toEqual([
      { store: 'S1', receipt: '1001', total: 3000, event_id: 'e1' },
      { store: 'S2', receipt: 'W-9', total: 500, event_id: null },
    ]);
    expect(
      db.prepare(`SELECT store, receipt, line, sku, qty, unit_price FROM sale_lines ORDER BY store, line`).all(),
    ).toEqual([
      { store: 'S1', receipt: '1001', line: 1, sku: 'A', qty: 2000, unit_price: 1000 },
      { store: 'S1', receipt: '1001', line: 2, sku: 'B', qty: 1000, unit_price: 1000 },
      { store: 'S2', receipt: 'W-9', line: 1, sku: 'C', qty: 1000, unit_price: 500 },
    ]);
    expect(db.prepare(`SELECT * FROM sale_cards`).all()).toEqual([{ pan_hash: 'h1', store: 'S1', receipt: '1001' }]);
    expect(db.prepare(`SELECT authorization, sale_store FROM returns ORDER BY authorization`).all()).toEqual([
      { authorization: 'ret-1', sale_store: 'S1' },
      { authorization: 'ret-2', sale_store: null },
      { authorization: 'ret-3', sale_store: null },
    ]);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    // the lines and card hashes refer to the new sales table, by store and receipt
    const refs = db.prepare(`SELECT name, sql FROM sqlite_master WHERE name IN ('sale_lines', 'sale_cards')`).all() as {
      name: string;
      sql: string;
    }[];
    for (const r of refs) expect(r.sql).toMatch(/REFERENCES "?sales"?\s*\(store, receipt\)/);
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE name LIKE '%by_store%'`).all()).toEqual([]);

    // and the hub reads them as before: the cross-store return still counts against S1's line 1
    const sales = new Sales(storage);
    expect(sales.get('S1', '1001')).toMatchObject({
      store: 'S1',
      lines: [
        { line: 1, qty: 2000 },
        { line: 2, qty: 1000 },
      ],
    });
    expect(sales.findByCard('h1', '2026-01-01T00:00:00.000Z')).toEqual([
      { receipt: '1001', store: 'S1', at: '2026-11-27T09:00:00.000Z' },
    ]);
    expect(
      new ReturnsRepo(storage).claimedByLine({ store: 'S1', receipt: '1001' }, '2026-11-27T10:00:00.000Z'),
    ).toEqual(new Map([[1, 1000]]));
  });

  it(
    'then takes another store’s sale under a receipt number already used, ' + 'and refuses a line of an unknown sale',
    () => {
      databaseBefore();
      storage = openSqliteStorage(dir);
      const sales = new Sales(storage);
      sales.insert({
        receipt: '1001',
        store: 'S2',
        register: 'R9',
        channel: 'store',
        at: '2026-11-28T09:00:00.000Z',
        currency: 'EUR',
        tenders: [],
        lines: [{ line: 1, sku: 'Z', qty: 1000, unitPrice: 100 }],
        eventId: 'e2',
        createdAt: '2026-11-28T09:00:00.000Z',
      });
      expect(sales.storesOf('1001').map((s) => s.store)).toEqual(['S1', 'S2']);
      expect(() =>
        storage!.db
          .prepare(
            `INSERT INTO sale_lines (store, receipt, line, sku, qty, unit_price) VALUES ('S3', '1001', 1, 'A', 1, 1)`,
          )
          .run(),
      ).toThrow(/FOREIGN KEY/);
    },
  );
});
