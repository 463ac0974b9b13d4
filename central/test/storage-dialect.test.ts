import { describe, expect, it } from 'vitest';
import { bindValues, shapeOf, toPostgres } from '../src/storage/dialect.js';

describe("the repositories' portable SQL, written for PostgreSQL", () => {
  it('numbers ? parameters and leaves literals, quoted names and comments alone', () => {
    const st = toPostgres(`SELECT 'a?b', "x?" FROM t -- why?\nWHERE a = ? AND b = ?`);
    expect(st.text).toBe(`SELECT 'a?b', "x?" FROM t -- why?\nWHERE a = $1 AND b = $2`);
    expect(st.positional).toBe(2);
    expect(bindValues(st, ['p', 3])).toEqual(['p', '3']);
  });

  it('names @, : and $ parameters once each, in order of first use, and binds them from one object', () => {
    const st = toPostgres(`UPDATE t SET a = @a, b = :b WHERE id = $id AND a <> @a AND c::text = 'x:y'`);
    expect(st.text).toBe(`UPDATE t SET a = $1, b = $2 WHERE id = $3 AND a <> $1 AND c::text = 'x:y'`);
    expect(bindValues(st, [{ a: 1, b: null, id: 'k', extra: true }])).toEqual(['1', null, 'k']);
    expect(() => bindValues(st, [{ a: 1, b: 2 }])).toThrow(/Missing named parameter "id"/);
  });

  it('quotes the reserved column name and camelCase aliases; keywords and snake_case stay as written', () => {
    expect(toPostgres(`SELECT r.authorization, on_hand AS onHand FROM returns r ORDER BY authorization`).text).toBe(
      `SELECT r."authorization", on_hand AS "onHand" FROM returns r ORDER BY "authorization"`,
    );
  });

  it('refuses what SQLite refuses to bind, and a wrong number of values', () => {
    const st = toPostgres(`SELECT ? AS a`);
    expect(() => bindValues(st, [true])).toThrow(TypeError);
    expect(() => bindValues(st, [{}])).toThrow(TypeError);
    expect(() => bindValues(st, [1, 2])).toThrow(/Too many/);
    expect(() => bindValues(st, [Number.NaN])).toThrow(TypeError);
    expect(bindValues(st, [undefined])).toEqual([null]);
    expect(bindValues(st, [Buffer.from([1, 255])])).toEqual(['\\x01ff']);
  });

  it('refuses a statement that mixes ? and named parameters', () => {
    expect(() => toPostgres(`SELECT ? , @a`)).toThrow(/mixes/);
  });
});

describe('what the PostgreSQL storage works out once per statement (shapeOf)', () => {
  it('tells reads from writes, a WITH that writes included, whatever literals and comments say', () => {
    for (const read of [
      'SELECT 1',
      '  select a FROM t',
      'VALUES (1)',
      'WITH x AS (SELECT 1) SELECT * FROM x',
      `SELECT 'DELETE' FROM t -- UPDATE`,
      'SELECT "update" FROM t',
      'SELECT updated_at FROM t',
    ]) {
      expect(shapeOf(read).readOnly, read).toBe(true);
    }
    for (const write of [
      'INSERT INTO t VALUES (1)',
      'UPDATE t SET a = 1',
      'DELETE FROM t',
      'WITH g AS (DELETE FROM t RETURNING *) SELECT * FROM g',
      'WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x',
      'SELECT 1; DELETE FROM t',
      '(SELECT 1) UNION (SELECT 2)',
      'CREATE TABLE t (a INT)',
    ]) {
      expect(shapeOf(write).readOnly, write).toBe(false);
    }
  });

  it(
    'cuts a read to its first row when it has no LIMIT, OFFSET or FETCH of its own, ' +
      'after a trailing comment or semicolon',
    () => {
      expect(shapeOf('SELECT a FROM t ORDER BY a').firstRow).toBe('SELECT a FROM t ORDER BY a\nLIMIT 1');
      expect(shapeOf('SELECT a FROM t -- last\n').firstRow).toBe('SELECT a FROM t\nLIMIT 1');
      expect(shapeOf('SELECT a FROM t WHERE b = $1 ;  ').firstRow).toBe('SELECT a FROM t WHERE b = $1\nLIMIT 1');
      expect(shapeOf('SELECT a FROM t FOR UPDATE').firstRow).toBe('SELECT a FROM t FOR UPDATE\nLIMIT 1');
      expect(shapeOf(`SELECT a FROM (SELECT a FROM t LIMIT 3) s WHERE a <> 'LIMIT'`).firstRow).toBe(
        `SELECT a FROM (SELECT a FROM t LIMIT 3) s WHERE a <> 'LIMIT'\nLIMIT 1`,
      );
      for (const kept of [
        'SELECT a FROM t LIMIT 5',
        'SELECT a FROM t OFFSET 2',
        'SELECT a FROM t FETCH FIRST 2 ROWS ONLY',
        'INSERT INTO t VALUES (1) RETURNING a',
        'TABLE t',
      ]) {
        expect(shapeOf(kept).firstRow, kept).toBeUndefined();
      }
    },
  );

  it('reads through a cursor what may be: not a write, not a locking read', () => {
    expect(shapeOf('SELECT a FROM t ORDER BY a').cursor).toBe(true);
    expect(shapeOf('SELECT substring(a FOR 2) FROM t').cursor).toBe(true);
    expect(shapeOf('SELECT a FROM t FOR UPDATE').cursor).toBe(false);
    expect(shapeOf('UPDATE t SET a = 1 RETURNING a').cursor).toBe(false);
  });
});
