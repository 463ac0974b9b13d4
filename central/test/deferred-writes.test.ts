import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStorage, type SqliteHubStorage as HubStorage } from '../src/storage/index.js';

/**
 * The storage seam for what nobody is owed: commits counted synced (FULL) or not (NORMAL), and
 * the deferred writes — held per key, written in bounded batches of one relaxed transaction.
 */

let dir: string;
let s: HubStorage;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-deferred-'));
  openSqliteStorage(dir, { create: true }).close();
  s = openSqliteStorage(dir);
  s.db.exec(`CREATE TABLE seen (id TEXT PRIMARY KEY, at TEXT NOT NULL)`);
});
afterEach(() => {
  if (s.isOpen()) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const synchronous = (): number => s.raw.pragma('synchronous', { simple: true }) as number;
const FULL = 2;
const seenRows = (): { id: string; at: string }[] =>
  s.db.prepare(`SELECT * FROM seen ORDER BY id`).all() as { id: string; at: string }[];

describe('commits', () => {
  it('counts each transaction that wrote, synced or relaxed, and each write made outside them as synced', () => {
    const before = s.commits();
    s.tx(() => s.db.prepare(`INSERT INTO seen VALUES ('a', '1')`).run());
    expect(s.commits()).toEqual({ full: before.full + 1, normal: before.normal });
    s.relaxed(() => s.db.prepare(`INSERT INTO seen VALUES ('b', '1')`).run());
    expect(s.commits()).toEqual({ full: before.full + 1, normal: before.normal + 1 });
    // a transaction that changed nothing wrote nothing (no fsync); nested ones are part of theirs
    s.tx(() => s.db.prepare(`SELECT * FROM seen`).all());
    s.tx(() => s.tx(() => s.db.prepare(`UPDATE seen SET at = '2' WHERE id = 'a'`).run()));
    expect(s.commits()).toEqual({ full: before.full + 2, normal: before.normal + 1 });
    // a statement that commits on its own is a synced commit too
    s.db.prepare(`INSERT INTO seen VALUES ('c', '1')`).run();
    expect(s.commits()).toEqual({ full: before.full + 3, normal: before.normal + 1 });
    // rolled back: no commit
    expect(() =>
      s.tx(() => {
        s.db.prepare(`INSERT INTO seen VALUES ('d', '1')`).run();
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(s.commits()).toEqual({ full: before.full + 3, normal: before.normal + 1 });
  });

  it(
    'runs a relaxed transaction with synchronous=NORMAL and is back at FULL after it, even when it fails; never ' +
      'inside another transaction',
    () => {
      expect(synchronous()).toBe(FULL);
      let inside = -1;
      s.relaxed(() => {
        inside = synchronous();
        s.db.prepare(`INSERT INTO seen VALUES ('a', '1')`).run();
      });
      expect(inside).toBe(1); // NORMAL
      expect(synchronous()).toBe(FULL);
      expect(() =>
        s.relaxed(() => {
          throw new Error('no');
        }),
      ).toThrow('no');
      expect(synchronous()).toBe(FULL);
      expect(() => s.tx(() => s.relaxed(() => 1))).toThrow(/inside another transaction/);
      expect(synchronous()).toBe(FULL);
    },
  );
});

describe('deferred writes', () => {
  const seenKind = (name = 'seen'): ReturnType<HubStorage['deferred']['kind']> => {
    const put = s.db.prepare(
      `INSERT INTO seen (id, at) VALUES (@id, @at) ON CONFLICT (id) DO UPDATE SET at = excluded.at`,
    );
    return s.deferred.kind<{ id: string; at: string }>(name, (v) => void put.run(v));
  };

  it('keeps the latest value per key and writes K of them in one relaxed transaction: no synced commit', async () => {
    const k = seenKind();
    const before = s.commits();
    for (let beat = 0; beat < 10; beat++)
      for (let i = 0; i < 200; i++) k.put(`S${i}`, '', { id: `S${i}`, at: String(beat) });
    expect(s.deferred.waiting).toBe(200);
    expect(k.get('S7', '')).toEqual({ id: 'S7', at: '9' });
    expect(k.ofStore('S7')).toEqual([{ id: 'S7', at: '9' }]);
    expect(seenRows()).toEqual([]);
    expect(await s.deferred.flush()).toBe(200);
    expect(s.commits()).toEqual({ full: before.full, normal: before.normal + 1 });
    expect(s.deferred.waiting).toBe(0);
    expect(seenRows()).toHaveLength(200);
    expect(seenRows().every((r) => r.at === '9')).toBe(true);
    expect(await s.deferred.flush()).toBe(0); // nothing waits: no transaction
    expect(s.commits()).toEqual({ full: before.full, normal: before.normal + 1 });
  });

  it('writes at most maxRows per transaction, oldest first, and lets the event loop run between two', async () => {
    const k = seenKind();
    const max = s.deferred.maxRows;
    for (let i = 0; i < 2 * max + 1; i++)
      k.put(`S${String(i).padStart(5, '0')}`, '', { id: `S${String(i).padStart(5, '0')}`, at: '1' });
    const before = s.commits();
    const flushing = s.deferred.flush();
    // the first batch is written at once; the others only after the event loop has run
    expect(s.commits().normal).toBe(before.normal + 1);
    expect(seenRows().map((r) => r.id)).toEqual(
      Array.from({ length: max }, (_, i) => `S${String(i).padStart(5, '0')}`),
    );
    k.put('late', '', { id: 'late', at: '1' }); // came during the flush: waits for the next one
    expect(await flushing).toBe(2 * max + 1);
    expect(s.commits()).toEqual({ full: before.full, normal: before.normal + 3 });
    expect(s.deferred.waiting).toBe(1);
  });

  it('keeps the rows of a batch that failed for the next one, and drops a row the database refuses', async () => {
    let failNext = true;
    const put = s.db.prepare(
      `INSERT INTO seen (id, at) VALUES (@id, @at) ON CONFLICT (id) DO UPDATE SET at = excluded.at`,
    );
    const k = s.deferred.kind<{ id: string; at: string | null }>('flaky', (v) => {
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
      }
      put.run(v);
    });
    const errors: string[] = [];
    s.deferred.start(3_600_000, (_err, rows, fate) => errors.push(`${rows} ${fate}`));
    k.put('S1', '', { id: 'S1', at: '1' });
    k.put('S2', '', { id: 'S2', at: null }); // NOT NULL: refused by every batch
    expect(await s.deferred.flush()).toBe(0);
    expect(errors).toEqual(['2 kept for the next batch']);
    expect(s.deferred.waiting).toBe(2);
    expect(seenRows()).toEqual([]);
    expect(await s.deferred.flush()).toBe(2);
    expect(errors).toEqual(['2 kept for the next batch', '1 dropped: the database refuses it']);
    expect(seenRows()).toEqual([{ id: 'S1', at: '1' }]);
    expect(s.deferred.stats()).toMatchObject({ waiting: 0, rows: 1, dropped: 1, failures: 1 });
  });

  it('writes what waits, synced, when the storage closes', () => {
    const k = seenKind();
    for (let i = 0; i < 3; i++) k.put(`S${i}`, '', { id: `S${i}`, at: 'closing' });
    s.close();
    s = openSqliteStorage(dir);
    expect(seenRows()).toHaveLength(3);
  });
});
