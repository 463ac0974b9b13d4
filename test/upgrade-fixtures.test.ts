import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@tillbridge/shared';
import { HUB_MIGRATIONS } from '../central/src/storage/schema.js';
import { PG_MIGRATIONS } from '../central/src/storage/postgres-schema.js';
import { hubDbPath, openSqliteStorage } from '../central/src/storage/index.js';
import { openPostgresStorage } from '../central/src/storage/postgres.js';
import { initHub } from '../central/src/hub.js';
import { openHub, type Hub } from '../central/src/hub-services.js';
import type { SqlDb } from '../central/src/storage/sql.js';
import { AGENT_MIGRATIONS, agentDbPath, agentId, openAgentDb } from '../agent/src/db/agent-db.js';
import { Outbox } from '../agent/src/sync/outbox.js';
import { Receipts } from '../agent/src/core/receipts.js';
import { LocalReturns } from '../agent/src/core/local-returns.js';
import { AgentIdentity } from '../agent/src/sync/identity.js';
import { createTestDatabase, pgUnavailable } from '../scripts/lib/pg-test-db.js';
import { pgConnect } from '../central/test/schema-rows.js';
import {
  fixtureVersions,
  hubPostgresDump,
  postgresSchema,
  SCHEMA_FIXTURES,
  sqliteHubAt,
  sqliteSchema,
} from './support/schema-fixtures.js';
import { tempDirForEachTest } from './support/temp-dir.js';

/**
 * Upgrades from every schema version that has shipped (docs/upgrade.md): a database of each
 * version, committed under test/fixtures/schemas/ by scripts/schema-fixtures.ts, opened by the
 * current code, migrated, its rows still there and read through the real repositories, and the
 * hub or agent then doing its work on it.
 *
 * Covered: hub SQLite v1–v17, hub PostgreSQL v1–v8, agent v1–v5 (the fixture lists below are read
 * from disk; "fixtures cover the shipped versions" fails when a migration ships without one).
 */

const FIXTURES = SCHEMA_FIXTURES;
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as Record<
  string,
  Record<string, number>
>;
const silent = createLogger({ name: 'test', level: 'silent' });
const GENERATE =
  'run `npm run build && node scripts/dist/schema-fixtures.js --only KIND:VERSION` ' +
  'and commit test/fixtures/schemas (docs/upgrade.md)';

const HUB_SQLITE = fixtureVersions('hub-sqlite', 'sqlite');
const HUB_PG = fixtureVersions('hub-postgres', 'sql.gz');
const AGENT = fixtureVersions('agent', 'sqlite');

const count = (db: SqlDb, table: string): number =>
  Number((db.prepare(`SELECT COUNT(*) AS n FROM "${table}"`).get() as { n: number | string }).n);

describe('fixtures cover the shipped versions', () => {
  // The newest migration may be in the making (no fixture yet); anything older must have one.
  it.each([
    ['hub-sqlite', HUB_SQLITE, HUB_MIGRATIONS.length],
    ['hub-postgres', HUB_PG, PG_MIGRATIONS.length],
    ['agent', AGENT, AGENT_MIGRATIONS.length],
  ] as const)('%s: a fixture for every version from 1 to at least the newest but one', (kind, have, newest) => {
    expect(have, `${kind} fixtures are not 1..N without gaps`).toEqual(
      Array.from({ length: have.length }, (_, i) => i + 1),
    );
    expect(
      have.length,
      `${kind} fixtures reach v${have.length}, newer than the code's ${newest} migrations`,
    ).toBeLessThanOrEqual(newest);
    expect(
      newest - have.length,
      `${kind} has ${newest} migrations but fixtures only up to v${have.length}: ` +
        GENERATE.replace('KIND', kind).replace('VERSION', String(newest - 1)),
    ).toBeLessThanOrEqual(1);
    for (const v of have)
      expect(manifest[`${kind}/v${v}`], `manifest.json has no entry for ${kind}/v${v}: ${GENERATE}`).toBeDefined();
  });

  it('the fixtures that shipped with this test are all there', () => {
    expect(HUB_SQLITE.slice(0, 17)).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
    expect(HUB_PG.slice(0, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(AGENT.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
  });
});

/**
 * A sale of `qty` of item A paid 10.00 in cash, made on an upgraded database (the hub records it,
 * the agent queues it).
 */
function saleAfterUpgrade(receipt: string, qty: number) {
  return {
    requestId: `m-${receipt}`,
    receipt,
    at: '2026-02-01T10:00:00Z',
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty, unitPrice: 1000 }],
    tenders: [{ kind: 'cash', amount: 1000 }],
  };
}

/** What every migrated hub fixture must show through the hub's own services, and then do. */
function checkHub(hub: Hub, v: number, sqliteVersion: number): void {
  expect(hub.stores.get('S1')?.name).toBe('Store One');
  if (sqliteVersion >= 7) expect(hub.stores.get('S2')?.name).toBe('Store Two');
  const sale = hub.sales.get('S1', 'R-1001');
  expect(sale, `sale R-1001 from v${v}`).toMatchObject({
    store: 'S1',
    total: 2000,
    currency: 'EUR',
    tenders: [{ kind: 'cash', amount: 2000 }],
    lines: [{ line: 1, sku: 'A', qty: 2000, unitPrice: 1000 }],
  });
  if (sqliteVersion >= 9) expect(hub.sales.get('S2', 'R-1001')?.total).toBe(500);
  const ret = hub.returnsRepo.get('AUTH-1');
  expect(ret).toMatchObject({ store: 'S1', receipt: 'R-1001', status: 'completed', sale_store: 'S1' });
  expect(hub.returnsRepo.lines('AUTH-1')).toMatchObject([{ line: 1, completed_qty: 1000 }]);
  expect(hub.ledger.get('S1', 'A')?.onHand).toBe(9000);
  expect(hub.ledger.sumOfMovements('S1', 'A')).toBe(9000);
  expect(hub.exceptions.forStore('S1').map((e) => e.id)).toEqual(['x-1']);
  if (sqliteVersion >= 2) expect(hub.terminals.list('S1').map((t) => t.register)).toEqual(['R1']);
  if (sqliteVersion >= 3)
    expect(hub.policies.effective('S1')).toMatchObject({ version: 1, policy: { returnWindowDays: 14 } });
  if (sqliteVersion >= 6)
    expect(hub.syncConfig.effective('S1')).toMatchObject({
      version: 1,
      value: { uploadMode: 'batched', heartbeatSeconds: 30 },
    });
  if (sqliteVersion >= 13) {
    expect(hub.erpFeed.consumer('erp')).toMatchObject({ position: 1 });
    expect(hub.erpFeed.head()).toBeGreaterThanOrEqual(1);
  }
  const audit = hub.auditTrail.verify();
  expect(audit, `the audit chain of v${v}`).toMatchObject({ ok: true, entries: sqliteVersion >= 7 ? 3 : 2 });

  // and the hub works on it: a sale is recorded, the ledger moves, the chain grows and holds
  hub.storage.tx(() => hub.saleService.record('S1', 'R1', 'store', saleAfterUpgrade('R-2001', 1), 'e-after-upgrade'));
  expect(hub.sales.get('S1', 'R-2001')?.total).toBe(1000);
  expect(hub.ledger.get('S1', 'A')?.onHand).toBe(8000);
  expect(hub.ledger.sumOfMovements('S1', 'A')).toBe(8000);
  expect(hub.auditTrail.verify().ok).toBe(true);
}

let dir: string;
tempDirForEachTest('tb-upgrade-', (made) => (dir = made));

describe('hub SQLite: each shipped version upgrades to the newest', () => {
  it.each(HUB_SQLITE)('from v%i', (v) => {
    // a real data directory (hub.secret…), its database replaced by the fixture's copy
    initHub(dir, silent);
    for (const f of [hubDbPath(dir), `${hubDbPath(dir)}-wal`, `${hubDbPath(dir)}-shm`]) rmSync(f, { force: true });
    copyFileSync(join(FIXTURES, 'hub-sqlite', `v${v}.sqlite`), hubDbPath(dir));

    const s = openSqliteStorage(dir, { log: silent });
    try {
      expect(s.schemaVersion()).toBe(HUB_MIGRATIONS.length);
      expect(s.raw.pragma('foreign_key_check')).toEqual([]);
      for (const [table, n] of Object.entries(manifest[`hub-sqlite/v${v}`]!))
        expect(count(s.db, table), `rows of ${table} from v${v}`).toBe(n);
      // the schema a new database gets, to the byte: no migration that shipped was changed since
      expect(sqliteSchema(s.raw), `the schema of v${v} upgraded`).toEqual(sqliteSchema(sqliteHubAt(':memory:')));
    } finally {
      s.close();
    }
    // the copy taken before migrating is the fixture as it was
    const bak = `${hubDbPath(dir)}.pre-v${v}.bak`;
    if (v < HUB_MIGRATIONS.length) {
      const b = new Database(bak, { readonly: true });
      expect(b.pragma('user_version', { simple: true })).toBe(v);
      expect(b.prepare('SELECT COUNT(*) FROM sales').pluck().get()).toBe(manifest[`hub-sqlite/v${v}`]!.sales);
      b.close();
    } else {
      expect(existsSync(bak)).toBe(false);
    }

    const hub = openHub({ dataDir: dir, tokenLifetimeSec: 900, log: silent });
    try {
      checkHub(hub, v, v);
    } finally {
      hub.close();
    }
  });
});

const noPg = pgUnavailable();

describe.skipIf(noPg !== undefined)(
  'hub PostgreSQL: each shipped version (a plain SQL dump) upgrades to the newest',
  () => {
    it.each(HUB_PG)('from v%i', (k) => {
      // a data directory made against a scratch database (hub.secret, the signing key), then pointed at the fixture's
      const scratch = createTestDatabase('tb_upg_scratch');
      const t = createTestDatabase('tb_upgrade');
      try {
        initHub(dir, silent, undefined, scratch.url);
        const pg = pgConnect(t.url);
        try {
          pg.query(hubPostgresDump(k));
          expect(Number(pg.query('SELECT version FROM tillbridge_schema')[0]!.version)).toBe(k);
        } finally {
          pg.close();
        }
        const s = openPostgresStorage(t.url, { log: silent });
        try {
          expect(s.schemaVersion()).toBe(PG_MIGRATIONS.length);
          for (const [table, n] of Object.entries(manifest[`hub-postgres/v${k}`]!))
            expect(count(s.db, table), `rows of ${table} from PostgreSQL v${k}`).toBe(n);
        } finally {
          s.close();
        }
        // the schema a new database gets (the scratch one): no migration that shipped was changed since
        const [upgraded, made] = [t.url, scratch.url].map((url) => {
          const c = pgConnect(url);
          try {
            return postgresSchema((text) => c.query(text));
          } finally {
            c.close();
          }
        });
        expect(upgraded, `the schema of PostgreSQL v${k} upgraded`).toEqual(made);
        const hub = openHub({ dataDir: dir, database: t.url, tokenLifetimeSec: 900, log: silent });
        try {
          checkHub(hub, k, k + 9);
        } finally {
          hub.close();
        }
      } finally {
        t.drop();
        scratch.drop();
      }
    });
  },
);

describe('agent: each shipped version upgrades to the newest', () => {
  it.each(AGENT)('from v%i', (v) => {
    copyFileSync(join(FIXTURES, 'agent', `v${v}.sqlite`), agentDbPath(dir));
    const db = openAgentDb(dir);
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(AGENT_MIGRATIONS.length);
      for (const [table, n] of Object.entries(manifest[`agent/v${v}`]!))
        expect(db.prepare(`SELECT COUNT(*) FROM "${table}"`).pluck().get(), `rows of ${table} from v${v}`).toBe(n);
      // its identity is kept: the hub knows this agent and its incarnation
      expect(agentId(db)).toBe('agent-fixture-1');
      expect(new AgentIdentity(db).incarnation).toBe('inc-fixture-1');
      // what it owes the hub is still owed, in order, with the original ids
      const outbox = new Outbox(db, () => Date.parse('2026-02-01T10:00:00Z'));
      expect(outbox.after(0, 10).map((r) => [r.seq, r.event_id])).toEqual([
        [1, 'ev-1'],
        [2, 'ev-2'],
      ]);
      expect(new Receipts(db).find('R-1001')).toMatchObject({
        store: 'S1',
        currency: 'EUR',
        lines: [{ line: 1, sku: 'A', qty: 2000 }],
        tenderKinds: [],
      });
      expect(new LocalReturns(db).find('AUTH-1')).toMatchObject({
        receipt: 'R-1001',
        mode: 'offline',
        status: 'approved',
      });
      // and it works on it: a sale goes into the outbox after the old ones
      const next = outbox.append('sale', 'R1', saleAfterUpgrade('R-3001', 1000));
      expect(next.seq).toBe(3);
      expect(outbox.after(0, 10).map((r) => r.seq)).toEqual([1, 2, 3]);
    } finally {
      db.close();
    }
    const bak = `${agentDbPath(dir)}.pre-v${v}.bak`;
    expect(existsSync(bak)).toBe(v < AGENT_MIGRATIONS.length);
  });
});
