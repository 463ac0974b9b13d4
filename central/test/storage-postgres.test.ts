import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@tillbridge/scripts/lib/pg-test-db';
import { describePg } from '../../test/support/pg.js';
import { openPostgresStorage, openPgClient, type PgClient } from '../src/storage/postgres.js';
import { PG_MIGRATIONS } from '../src/storage/postgres-schema.js';
import { storageExists } from '../src/storage/index.js';
import { isInitialized } from '../src/hub.js';
import { createSecret } from '../src/auth/secrets.js';
import type { HubStorage } from '../src/storage/sql.js';

/**
 * What the PostgreSQL storage does once per statement rather than per call, and how much it
 * reads: `get` fetches one row, `iterate` reads through a cursor a batch at a time, a statement is
 * prepared once per connection however often it is prepared or run. Observed through PostgreSQL
 * itself (pg_cursors, pg_prepared_statements, an error only a row past the first would raise),
 * never through timing.
 */

await describePg('the PostgreSQL storage, per statement', () => {
  let tdb: TestDatabase;
  let s: HubStorage;
  let admin: PgClient;
  const BATCH = 3;
  beforeAll(() => {
    tdb = createTestDatabase('tb_pgstore');
    s = openPostgresStorage(tdb.url, { create: true, iterateBatch: BATCH });
    s.db.exec('CREATE TABLE nums (n BIGINT PRIMARY KEY, label TEXT NOT NULL)');
    s.tx(() => {
      const ins = s.db.prepare('INSERT INTO nums (n, label) VALUES (?, ?)');
      for (let n = 1; n <= 10; n++) ins.run(n, `n${n}`);
    });
    admin = openPgClient(tdb.url);
  });
  afterAll(() => {
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset if beforeAll failed first */
    admin?.close();
    s?.close();
    tdb?.drop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  });

  const openCursors = (): unknown[] => s.db.prepare(`SELECT name FROM pg_cursors WHERE name <> ''`).all();

  it('iterate returns every row, in order, over more rows than one batch, through a cursor closed once read', () => {
    const stmt = s.db.prepare('SELECT n, label FROM nums WHERE n >= ? ORDER BY n');
    const it = stmt.iterate(1);
    const first = it.next();
    expect(first.value).toEqual({ n: 1, label: 'n1' });
    // mid-way: the rest waits on the server, in a cursor, not in this process
    expect(openCursors()).toHaveLength(1);
    const rest = [...it];
    expect([first.value, ...rest].map((r) => (r as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(openCursors()).toEqual([]);
    // an exact multiple of the batch, and none
    expect([...s.db.prepare('SELECT n FROM nums WHERE n <= ? ORDER BY n').iterate(BATCH * 2)]).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => ({ n })),
    );
    expect([...stmt.iterate(11)]).toEqual([]);
    expect(openCursors()).toEqual([]);
  });

  it('iterate inside a transaction sees its writes; left early, its cursor is closed; two at once do not mix', () => {
    s.tx(() => {
      s.db.prepare('INSERT INTO nums (n, label) VALUES (?, ?)').run(11, 'n11');
      const seen: number[] = [];
      for (const r of s.db.prepare('SELECT n FROM nums ORDER BY n').iterate()) {
        seen.push((r as { n: number }).n);
        if (seen.length === 5) break;
      }
      expect(seen).toEqual([1, 2, 3, 4, 5]);
      expect(openCursors()).toEqual([]);
      const a = s.db.prepare('SELECT n FROM nums ORDER BY n').iterate();
      const b = s.db.prepare('SELECT n FROM nums ORDER BY n DESC').iterate();
      const pairs: [unknown, unknown][] = [];
      for (let x = a.next(), y = b.next(); !x.done && !y.done; x = a.next(), y = b.next())
        pairs.push([(x.value as { n: number }).n, (y.value as { n: number }).n]);
      expect(pairs).toEqual(Array.from({ length: 11 }, (_, i) => [i + 1, 11 - i]));
      s.db.prepare('DELETE FROM nums WHERE n = ?').run(11);
    });
    expect(openCursors()).toEqual([]);
  });

  it('iterate over a write (RETURNING) or a locking read still answers every row', () => {
    const rows = [...s.db.prepare('UPDATE nums SET label = label WHERE n <= ? RETURNING n').iterate(4)]
      .map((r) => (r as { n: number }).n)
      .sort();
    expect(rows).toEqual([1, 2, 3, 4]);
    s.tx(() =>
      expect([...s.db.prepare('SELECT n FROM nums WHERE n <= 4 ORDER BY n FOR UPDATE').iterate()]).toHaveLength(4),
    );
  });

  it('get fetches the first row only', () => {
    expect(s.db.prepare('SELECT n, label FROM nums ORDER BY n DESC').get()).toEqual({ n: 10, label: 'n10' });
    // only the first row is computed: the second would divide by zero
    expect(s.db.prepare('SELECT 1 / (g - 2) AS x FROM generate_series(1, 3) g').get()).toEqual({ x: -1 });
    expect(() => s.db.prepare('SELECT 1 / (g - 2) AS x FROM generate_series(1, 3) g').all()).toThrow(
      /division by zero/,
    );
    // a statement with its own LIMIT/OFFSET, one ending in a comment or a semicolon, a locking read
    expect(s.db.prepare('SELECT n FROM nums ORDER BY n LIMIT 5 OFFSET 2').get()).toEqual({ n: 3 });
    expect(s.db.prepare('SELECT n FROM nums ORDER BY n -- the smallest\n').get()).toEqual({ n: 1 });
    expect(s.db.prepare('SELECT n FROM nums WHERE n > ? ORDER BY n;').get(7)).toEqual({ n: 8 });
    expect(s.db.prepare('WITH big AS (SELECT n FROM nums WHERE n > 5) SELECT n FROM big ORDER BY n').get()).toEqual({
      n: 6,
    });
    s.tx(() => expect(s.db.prepare('SELECT n FROM nums ORDER BY n FOR UPDATE').get()).toEqual({ n: 1 }));
    expect(s.db.prepare('SELECT n FROM nums WHERE n > 100').get()).toBeUndefined();
  });

  it('get on an INSERT … RETURNING writes every row and answers the first', () => {
    const before = s.commits().full;
    const r = s.db
      .prepare('INSERT INTO nums (n, label) SELECT g, ? FROM generate_series(20, 22) g RETURNING n')
      .get('many');
    expect(r).toEqual({ n: 20 });
    expect(s.db.prepare(`SELECT COUNT(*) AS c FROM nums WHERE label = 'many'`).get()).toEqual({ c: 3 });
    expect(s.commits().full).toBe(before + 1);
    s.db.prepare(`DELETE FROM nums WHERE label = 'many'`).run();
  });

  it('a WITH that writes takes the write lock in a transaction of its own, and counts as a commit', () => {
    const before = s.commits().full;
    const r = s.db
      .prepare(
        `WITH gone AS (DELETE FROM nums WHERE n = 10 RETURNING n, label)
         INSERT INTO nums (n, label) SELECT n + 100, label FROM gone`,
      )
      .run();
    expect(r.changes).toBe(1);
    expect(s.commits().full).toBe(before + 1);
    // and a WITH that only reads writes nothing, inside a transaction too
    s.tx(() => s.db.prepare('WITH x AS (SELECT n FROM nums) SELECT n FROM x').all());
    expect(s.commits().full).toBe(before + 1);
    s.db.prepare('UPDATE nums SET n = 10 WHERE n = 110').run();
  });

  it(
    'prepares a statement once per connection, however many times its SQL is prepared and run; ' +
      'again after a reconnection',
    () => {
      const sql = 'SELECT label FROM nums WHERE n = ?';
      for (let i = 1; i <= 5; i++) {
        expect(s.db.prepare(sql).get(i)).toEqual({ label: `n${i}` });
        expect(s.db.prepare(sql).all(i)).toEqual([{ label: `n${i}` }]);
      }
      const prepared = (): { statement: string }[] =>
        s.db
          .prepare(
            `SELECT statement FROM pg_prepared_statements
            WHERE statement LIKE 'SELECT label FROM nums WHERE n = $1%' ORDER BY statement`,
          )
          .all() as { statement: string }[];
      // the statement, and its first-row form for get
      expect(prepared().map((r) => r.statement)).toEqual([
        'SELECT label FROM nums WHERE n = $1',
        'SELECT label FROM nums WHERE n = $1\nLIMIT 1',
      ]);

      // the connection is cut: the first statement says so, the next reconnects and prepares again
      const stmt = s.db.prepare(sql);
      admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = $1 AND application_name = 'tillbridge-hub'`,
        [tdb.name],
      );
      expect(() => stmt.get(1)).toThrow(expect.objectContaining({ code: 'TB_STORAGE_BUSY' }));
      expect(stmt.get(2)).toEqual({ label: 'n2' });
      expect(prepared().map((r) => r.statement)).toEqual(['SELECT label FROM nums WHERE n = $1\nLIMIT 1']);
    },
  );
});

await describePg('is there a hub on this database? (PostgreSQL)', () => {
  let tdb: TestDatabase | undefined;
  const dirs: string[] = [];
  afterEach(() => {
    tdb?.drop();
    tdb = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('answers without migrating: a hub at an older schema version stays at it', () => {
    tdb = createTestDatabase('tb_exists');
    expect(storageExists('/nowhere', tdb.url)).toBe(false);
    const pg = openPgClient(tdb.url);
    try {
      pg.query('BEGIN');
      pg.query('CREATE TABLE tillbridge_schema (version BIGINT NOT NULL)');
      pg.query(PG_MIGRATIONS[0]!);
      pg.query('INSERT INTO tillbridge_schema (version) VALUES (1)');
      pg.query('COMMIT');
      expect(storageExists('/nowhere', tdb.url)).toBe(true);
      const dir = mkdtempSync(join(tmpdir(), 'tb-exists-'));
      dirs.push(dir);
      createSecret(dir);
      expect(isInitialized(dir, tdb.url)).toBe(true);
      expect(pg.query('SELECT version FROM tillbridge_schema')).toEqual([{ version: '1' }]);
    } finally {
      pg.close();
    }
  });

  it('says when the server cannot be reached, rather than that there is no hub', () => {
    expect(() => storageExists('/nowhere', 'postgres://postgres@127.0.0.1:1/none?connect_timeout=5')).toThrow(
      expect.objectContaining({ code: 'TB_STORAGE_BUSY', message: expect.stringContaining('cannot be reached') }),
    );
  });
});
