import type { SqlDb, Statement } from '../storage/index.js';

/** Most rows one statement takes; longer lists go in several. */
const MAX_ROWS = 256;

/**
 * The statement size for `n` rows (n ≤ MAX_ROWS): the next power of two, so that a table has at most nine statement
 * texts to prepare.
 */
function sizeFor(n: number): number {
  let size = 1;
  while (size < n) size <<= 1;
  return size;
}

/** A column of a multi-row insert: its SQL type where PostgreSQL must be told it (an integer), else text. */
export type ColumnType = 'text' | 'int';

/**
 * One INSERT of many rows, portable SQL for both engines, one round trip for up to 256 rows:
 *
 *     INSERT INTO t (a, b) SELECT * FROM (VALUES (?, CAST(? AS BIGINT)), …) AS v WHERE column1 IS NOT NULL [tail]
 *
 * The VALUES list is padded with rows of NULLs up to the next power of two (few statement texts,
 * each prepared once per connection) and the WHERE drops them, so the first column must be one
 * that is never null. Integer columns are cast, for PostgreSQL types a VALUES list in FROM as
 * text. The tail may be ON CONFLICT … (the WHERE is also what SQLite needs to parse an upsert
 * after a SELECT) and RETURNING …. The hot paths that write many rows in one transaction (the
 * group commit of the agents' events) use it: on PostgreSQL every statement is a network round
 * trip, and they are taken under the cluster-wide write lock.
 */
export class MultiRowInsert {
  private readonly bySize = new Map<number, Statement>();
  private readonly tuple: string;
  private readonly width: number;

  /**
   * @param head `INSERT INTO t (a, b, c)` — the rows follow
   * @param columns each column's type, in the order of `head`'s
   * @param tail what follows the rows (ON CONFLICT …, RETURNING …)
   */
  constructor(
    private readonly db: SqlDb,
    private readonly head: string,
    columns: readonly ColumnType[],
    private readonly tail = '',
  ) {
    this.width = columns.length;
    this.tuple = `(${columns.map((c) => (c === 'int' ? 'CAST(? AS BIGINT)' : '?')).join(', ')})`;
  }

  private statement(size: number): Statement {
    let st = this.bySize.get(size);
    if (!st) {
      const rows = Array.from({ length: size }, () => this.tuple).join(', ');
      st = this.db.prepare(`${this.head} SELECT * FROM (VALUES ${rows}) AS v WHERE column1 IS NOT NULL ${this.tail}`);
      this.bySize.set(size, st);
    }
    return st;
  }

  private *parts(rows: readonly unknown[][]): Generator<[Statement, unknown[]]> {
    for (let at = 0; at < rows.length; at += MAX_ROWS) {
      const part = rows.slice(at, at + MAX_ROWS);
      const size = sizeFor(part.length);
      const values = part.flat();
      if (values.length !== part.length * this.width)
        throw new Error(`${this.head}: every row needs ${this.width} values`);
      for (let i = part.length; i < size; i++) for (let c = 0; c < this.width; c++) values.push(null);
      yield [this.statement(size), values];
    }
  }

  /** Inserts `rows` (each the values of one row, in order; the first never null). Call inside a transaction. */
  run(rows: readonly unknown[][]): void {
    for (const [st, values] of this.parts(rows)) st.run(...values);
  }

  /** Inserts `rows` and returns what the tail's RETURNING gives. */
  returning(rows: readonly unknown[][]): unknown[] {
    const out: unknown[] = [];
    for (const [st, values] of this.parts(rows)) out.push(...st.all(...values));
    return out;
  }
}

/**
 * A SELECT of the rows whose key is one of many — `… WHERE k IN (?*)`, or for a key of several
 * columns `… WHERE (a, b) IN (?*)` (row values: both engines) — in one round trip up to 256 keys:
 * the list is padded to the next power of two with its last key (so that few statement texts
 * exist), and longer lists go in several.
 */
export class MultiKeySelect {
  private readonly bySize = new Map<number, Statement>();

  /**
   * @param sql the statement with `(?*)` where the list goes, e.g. `SELECT id FROM t WHERE id IN (?*)`
   * @param width how many columns a key has (a key is then an array of that many values)
   */
  constructor(
    private readonly db: SqlDb,
    private readonly sql: string,
    private readonly width = 1,
  ) {
    if (!sql.includes('(?*)')) throw new Error('MultiKeySelect: the statement needs a (?*) list');
  }

  private statement(size: number): Statement {
    let st = this.bySize.get(size);
    if (!st) {
      const one = this.width === 1 ? '?' : `(${Array.from({ length: this.width }, () => '?').join(', ')})`;
      const list = Array.from({ length: size }, () => one).join(', ');
      st = this.db.prepare(this.sql.replace('(?*)', this.width === 1 ? `(${list})` : `(VALUES ${list})`));
      this.bySize.set(size, st);
    }
    return st;
  }

  /** The rows of every key in `keys` (duplicates in `keys` are fine). */
  all(keys: readonly unknown[]): unknown[] {
    const byText = new Map<string, unknown>();
    for (const k of keys) byText.set(this.width === 1 ? String(k) : JSON.stringify(k), k);
    const unique = [...byText.values()];
    const out: unknown[] = [];
    for (let at = 0; at < unique.length; at += MAX_ROWS) {
      const part = unique.slice(at, at + MAX_ROWS);
      const size = sizeFor(part.length);
      const padded = [...part, ...Array.from({ length: size - part.length }, () => part[part.length - 1])];
      out.push(...this.statement(size).all(...(this.width === 1 ? padded : (padded as unknown[][]).flat())));
    }
    return out;
  }
}
