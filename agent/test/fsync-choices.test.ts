import { describe, expect, it } from 'vitest';
import { openAgentDb, withoutFsync, type Db } from '../src/db/agent-db.js';
import { InventoryCache } from '../src/core/inventory-cache.js';
import { Outbox } from '../src/sync/outbox.js';
import { tempDirForEachTest } from '../../test/support/temp-dir.js';

const FULL = 2;
const NORMAL = 1;
const T0 = Date.parse('2026-11-27T10:00:00Z');

let dir: string;
tempDirForEachTest('tb-agent-fsync-', (d) => (dir = d));

/** The connection's synchronous level now. */
function level(db: Db): number {
  return db.pragma('synchronous', { simple: true }) as number;
}

/**
 * An agent database in the test's folder whose statements note the synchronous level in force each time one of them
 * writes: what the transaction they belong to commits with. `done` checks that FULL is back, and closes it.
 */
function watchedAgentDb(): { db: Db; levels: number[]; done: () => void } {
  const real = openAgentDb(dir);
  const levels: number[] = [];
  const db = new Proxy(real, {
    get(target, key, receiver) {
      if (key !== 'prepare') return Reflect.get(target, key, receiver) as unknown;
      return (sql: string) => {
        const stmt = target.prepare(sql);
        if (stmt.reader || /^PRAGMA /i.test(sql)) return stmt; // the pragmas that set the level are not writes
        return new Proxy(stmt, {
          get(s, k, r) {
            if (k !== 'run') return Reflect.get(s, k, r) as unknown;
            return (...args: unknown[]) => {
              levels.push(level(target));
              return s.run(...args);
            };
          },
        });
      };
    },
  });
  const done = (): void => {
    expect(level(real)).toBe(FULL);
    real.close();
  };
  return { db, levels, done };
}

describe('writes that commit without an fsync', () => {
  it('run at synchronous=NORMAL and put FULL back, also when the write throws', () => {
    const db = openAgentDb(dir);
    expect(level(db)).toBe(FULL);
    expect(withoutFsync(db, () => level(db))).toBe(NORMAL);
    expect(level(db)).toBe(FULL);
    expect(() =>
      withoutFsync(db, () => {
        throw new Error('refused');
      }),
    ).toThrow('refused');
    expect(level(db)).toBe(FULL);
    db.close();
  });

  it('leave a connection opened at NORMAL at NORMAL (its own choice, not FULL)', () => {
    const db = openAgentDb(dir, { synchronous: 'NORMAL' });
    withoutFsync(db, () => undefined);
    expect(level(db)).toBe(NORMAL);
    db.close();
  });

  it("are the hub's inventory pushes: every write of a push at NORMAL, FULL again after", () => {
    const { db, levels, done } = watchedAgentDb();
    const cache = new InventoryCache(db, () => T0);
    cache.apply(true, [{ sku: 'SKU-1', onHand: 3 }]);
    cache.apply(false, [{ sku: 'SKU-2', onHand: 1 }], ['SKU-1']);
    expect(cache.list()).toEqual([{ sku: 'SKU-2', onHand: 1 }]);
    expect(levels).toEqual([NORMAL, NORMAL, NORMAL, NORMAL]); // clear, upsert; upsert, delete
    done();
  });

  it("are the outbox's deletion of confirmed rows, while its events are appended with an fsync", () => {
    const { db, levels, done } = watchedAgentDb();
    const outbox = new Outbox(db, () => T0);
    db.transaction(() => outbox.append('sale', 'R1', { receipt: 'R-1' })).immediate();
    const appended = levels.splice(0);
    expect(appended.length).toBeGreaterThan(0);
    expect(new Set(appended)).toEqual(new Set([FULL]));
    expect(outbox.deleteUpTo(outbox.lastSeq())).toBe(1);
    expect(levels).toEqual([NORMAL]);
    done();
  });
});
