import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, DEFAULT_POLICY, TbCodes } from '@tillbridge/shared';
import type { Db } from '../src/db/agent-db.js';
import { StorageHealth } from '../src/db/storage-health.js';
import { WriteRetry } from '../src/db/write-retry.js';
import { InventoryCache } from '../src/core/inventory-cache.js';
import { InventoryUpdates, inventoryUpdate, mergeInventoryUpdates } from '../src/core/inventory-updates.js';
import { PolicyStore } from '../src/core/policy-store.js';
import { LiveSettings } from '../src/core/live-settings.js';
import { Outbox } from '../src/sync/outbox.js';
import { Replies } from '../src/core/replies.js';
import { Receipts } from '../src/core/receipts.js';
import { LocalReturns } from '../src/core/local-returns.js';
import { StoreCore } from '../src/core/store-core.js';
import { AuthzCounter } from '../src/core/authz-counters.js';
import type { HubAuthorizer } from '../src/sync/hub-link.js';
import { closeTempDb, openTempDb } from './support/temp-store.js';

/**
 * A full disk, for real: SQLite's `max_page_count` capped at the file's size makes every write
 * that needs a new page fail with SQLITE_FULL; raising it again is space returning.
 */
const log = createLogger({ name: 'test', level: 'silent' });
let temp: { dir: string; db: Db };
let db: Db;
let health: StorageHealth;
let writes: WriteRetry;

const fill = (): void => {
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
};
const freeSpace = (): void => {
  db.pragma('max_page_count = 1073741823');
};
const until = async (what: string, check: () => boolean): Promise<void> => {
  for (let i = 0; i < 2000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error(`never: ${what}`);
};

beforeEach(() => {
  temp = openTempDb('tb-full-');
  db = temp.db;
  health = new StorageHealth();
  writes = new WriteRetry({ baseMs: 5, capMs: 20, health, log });
});
afterEach(() => {
  writes.stop();
  closeTempDb(temp);
});

const skus = (n: number, onHand: number, prefix = 'SKU-') =>
  Array.from({ length: n }, (_, i) => ({ sku: `${prefix}${String(i).padStart(5, '0')}`, onHand }));

describe('inventory pushes on a full disk', () => {
  it('are kept, merged with later pushes in order, and written once space returns, in the same process', async () => {
    const cache = new InventoryCache(db);
    const caughtUp: boolean[] = [];
    const updates = new InventoryUpdates(cache, writes, (_u, late) => caughtUp.push(late));
    updates.push(
      true,
      [
        { sku: 'OLD', onHand: 1 },
        { sku: 'GONE', onHand: 2 },
      ],
      [],
    );
    expect(cache.list()).toEqual([
      { sku: 'GONE', onHand: 2 },
      { sku: 'OLD', onHand: 1 },
    ]);
    fill();
    updates.push(true, skus(3000, 7), []); // the whole inventory on reconnecting: does not fit
    expect(updates.behind).toBe(true);
    expect(health.view().failing).toEqual(['inventory']);
    expect(health.view().lastError).toMatchObject({ what: 'inventory', code: 'SQLITE_FULL' });
    updates.push(
      false,
      [
        { sku: 'SKU-00001', onHand: 9 },
        { sku: 'NEW', onHand: 3 },
      ],
      ['SKU-00002'],
    );
    expect(cache.count()).toBe(2); // nothing half-written
    freeSpace();
    await until('the copy caught up', () => !updates.behind);
    const list = cache.list();
    expect(list.length).toBe(3000); // 3000 - SKU-00002 + NEW
    expect(cache.get('SKU-00001')).toBe(9);
    expect(cache.get('SKU-00002')).toBeUndefined();
    expect(cache.get('NEW')).toBe(3);
    expect(cache.get('OLD')).toBeUndefined();
    expect(caughtUp).toEqual([false, true]);
    expect(health.view().failing).toEqual([]);
    expect(health.view().failures.inventory).toBeGreaterThanOrEqual(2);
  });

  it('merging: a full push replaces what was owed, a delta applies over it', () => {
    const a = inventoryUpdate(false, [{ sku: 'A', onHand: 1 }], ['B']);
    const b = inventoryUpdate(false, [{ sku: 'B', onHand: 2 }], ['A']);
    const ab = mergeInventoryUpdates(a, b);
    expect([...ab.items]).toEqual([['B', 2]]);
    expect([...ab.removed]).toEqual(['A']);
    const full = inventoryUpdate(true, [{ sku: 'C', onHand: 3 }], []);
    expect(mergeInventoryUpdates(ab, full)).toBe(full);
    const fb = mergeInventoryUpdates(full, b);
    expect(fb.full).toBe(true);
    expect([...fb.items]).toEqual([
      ['C', 3],
      ['B', 2],
    ]);
    expect([...fb.removed]).toEqual([]);
  });
});

describe('policy and settings pushed while writes fail', () => {
  it('keep the version held until the new one is written, then switch without a restart', async () => {
    const policy = new PolicyStore(db, 10_000, log);
    const live = new LiveSettings(
      db,
      { authorizationDeadlineMs: 1500, reconnectBaseMs: 500, reconnectCapMs: 30_000, heartbeatMs: 15_000 },
      log,
    );
    db.pragma('query_only = ON'); // every write fails (SQLITE_READONLY), whatever space is left
    writes.run('policy', () => void policy.accept(4, DEFAULT_POLICY));
    writes.run('settings', () => void live.accept(2, { ...live.settings, heartbeatSeconds: 7 }));
    expect(policy.version).toBe(0);
    expect(live.version).toBe(0);
    expect(health.view().failing).toEqual(['policy', 'settings']);
    db.pragma('query_only = OFF');
    await until('both written', () => !writes.owes('policy') && !writes.owes('settings'));
    expect(policy.version).toBe(4);
    expect(live.version).toBe(2);
    expect(live.settings.heartbeatSeconds).toBe(7);
    expect(new PolicyStore(db, 10_000, log).version).toBe(4); // kept across a restart
  });
});

describe('a sale on a full disk', () => {
  class NoHub implements HubAuthorizer {
    connected = false;
    authorize(): never {
      throw new Error('offline');
    }
    lookupReceipt(): never {
      throw new Error('offline');
    }
    override(): never {
      throw new Error('offline');
    }
  }

  it('is refused with TB_STORAGE_FULL, nothing stored; the same message is acked once space returns', async () => {
    const outbox = new Outbox(db);
    const core = new StoreCore({
      db,
      store: 'S1',
      agentId: 'A1',
      outbox,
      replies: new Replies(db),
      receipts: new Receipts(db),
      returns: new LocalReturns(db),
      hub: new NoHub(),
      policy: new PolicyStore(db, 10_000, log),
      counters: new AuthzCounter(),
      deadlineMs: 100,
      log,
      storage: health,
    });
    const lines = Array.from({ length: 300 }, (_, i) => ({ line: i + 1, sku: `SKU-${i}`, qty: 1, unitPrice: 100 }));
    const sale = {
      type: 'sale' as const,
      id: 'big-1',
      receipt: 'R-1',
      at: '2026-01-01T10:00:00.000Z',
      currency: 'EUR',
      lines,
      tenders: [{ kind: 'cash', amount: 30_000 }],
    };
    fill();
    const refused = await core.handle('R1', sale);
    expect(refused).toMatchObject({ type: 'error', id: 'big-1', code: TbCodes.STORAGE_FULL });
    expect(outbox.stats().depth).toBe(0);
    expect(db.prepare(`SELECT COUNT(*) AS n FROM replies`).get()).toEqual({ n: 0 });
    expect(health.view().failing).toEqual(['register messages']);
    freeSpace();
    expect(await core.handle('R1', sale)).toEqual({ type: 'ack', id: 'big-1' });
    expect(outbox.stats().depth).toBe(1);
    expect(health.view().failing).toEqual([]);
  });
});
