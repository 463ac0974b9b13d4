import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMPTY_TICKET } from '../src/domain/return-ticket.js';
import { ReturnsRepo, type ReturnRow } from '../src/domain/returns-repo.js';
import type { HubStorage, SqlDb } from '../src/storage/index.js';
import { testHub, type TestHub } from './helpers.js';

/**
 * The queries that must not read a whole table find an index on either engine
 * (TILLBRIDGE_TEST_BACKEND): the database's own planner, asked about the SQL the repository runs,
 * with enough rows and fresh statistics that it would rather scan and sort if it could not.
 */

let t: TestHub;
beforeEach(() => {
  t = testHub();
});
afterEach(() => t.cleanup());

/** The SQL texts a repository prepares, in order (its constructor prepares them all). */
function preparedBy(make: (s: HubStorage) => unknown): string[] {
  const texts: string[] = [];
  const db = t.hub.storage.db;
  const recording: SqlDb = {
    engine: db.engine,
    exec: (sql) => db.exec(sql),
    prepare: (sql) => {
      texts.push(sql);
      return db.prepare(sql);
    },
  };
  make({ db: recording } as unknown as HubStorage);
  return texts;
}

/** The plan the engine would run `sql` with, one line per step. */
function plan(sql: string, params: Record<string, unknown>): string {
  const sqlite = t.hub.storage.engine === 'sqlite';
  const rows = t.hub.storage.db.prepare(`${sqlite ? 'EXPLAIN QUERY PLAN' : 'EXPLAIN'} ${sql}`).all(params);
  return rows.map((r) => String(Object.values(r as Record<string, unknown>).at(-1))).join('\n');
}

function ticket(n: number): ReturnRow {
  const at = new Date(Date.parse('2026-11-01T00:00:00.000Z') + Math.floor(n / 3) * 60_000).toISOString();
  const id = { authorization: `auth-${String(n).padStart(5, '0')}`, request_id: `q-${n}`, receipt: `X${n}` };
  return { ...EMPTY_TICKET, ...id, store: `S${n % 7}`, register: 'R1', mode: 'online', created_at: at, updated_at: at };
}

describe('GET /v1/admin/returns (every store, a page after a ticket)', () => {
  it('reads the index on (created_at, authorization) in order, with no sort; without it, it sorts', () => {
    const repo = t.hub.returnsRepo;
    const rows = 3000;
    t.hub.storage.tx(() => {
      for (let n = 0; n < rows; n++) repo.insert(ticket(n), []);
    });
    t.hub.storage.db.exec('ANALYZE');
    const pages = preparedBy((s) => new ReturnsRepo(s)).filter(
      (sql) => sql.includes('LIMIT @limit') && !sql.includes('@store'),
    );
    expect(pages, 'the repository prepares one query for a page of every store').toHaveLength(1);
    const params = { afterAt: ticket(1500).created_at, afterAuthorization: ticket(1500).authorization, limit: 51 };
    // the query reads what the list shows
    expect(
      repo
        .page({ after: { createdAt: params.afterAt, authorization: params.afterAuthorization }, limit: 2 })
        .tickets.map((p) => p.ticket.authorization),
    ).toEqual(['auth-01501', 'auth-01502']);

    const sqlite = t.hub.storage.engine === 'sqlite';
    const uses = plan(pages[0]!, params);
    expect(uses).toMatch(
      sqlite ? /USING INDEX returns_created \(\(created_at,authorization\)>/ : /Index Scan using returns_created/,
    );
    expect(uses).not.toMatch(sqlite ? /TEMP B-TREE/ : /Sort/);

    // and the test can tell: without the index the same query reads the table and sorts it
    t.hub.storage.db.exec('DROP INDEX returns_created');
    expect(plan(pages[0]!, params)).toMatch(sqlite ? /TEMP B-TREE FOR ORDER BY/ : /Sort/);
  });
});
