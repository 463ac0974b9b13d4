import { describe, expect, it } from 'vitest';
import { bindValues, toPostgres } from '../src/storage/dialect.js';

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
