import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { placeRestoredFile } from '@tillbridge/shared';
import { AgentConfigSchema, type AgentConfig } from '../src/config.js';
import { agentDbPath, openAgentDb, type Db } from '../src/db/agent-db.js';
import { MetaSecrets } from '../src/db/meta-secrets.js';
import { ApiKeyStore } from '../src/sync/api-key-store.js';
import { AgentIdentity } from '../src/sync/identity.js';
import { backupAgent, restoreAgent } from '../src/cli/backup.js';

/**
 * tillbridge-agent backup and restore on real SQLite files (test/e2e/backup.e2e.test.ts runs the
 * binaries with a hub): an online copy of an open database, what a restore refuses, and a restore
 * over what a killed agent left (its WAL), which must not be replayed into the restored file.
 */

const clock = { now: () => Date.parse('2026-11-30T08:00:00Z') };
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tb-agent-backup-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function config(store = 'S1', dataDir = join(root, 'data')): AgentConfig {
  return AgentConfigSchema.parse({
    store,
    dataDir,
    hub: { url: 'ws://127.0.0.1:7400', apiKey: 'tbk_configkey0000000000000000000000000000000_aaaaaa' },
    registers: [{ id: 'R1', transport: { type: 'tcp-server', port: 0 } }],
  });
}

function queue(db: Db, id: string): void {
  db.prepare(
    `INSERT INTO outbox (event_id, kind, register, at, created_ms, body)
       VALUES (?, 'sale', 'R1', '2026-11-30T08:00:00Z', 0, '{}')`,
  ).run(id);
}

const outboxIds = (file: string): string[] => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT event_id FROM outbox ORDER BY seq`).pluck().all() as string[];
  } finally {
    db.close();
  }
};

describe('backupAgent', () => {
  it('copies the open database online, with its identity, outbox and which API key it holds', async () => {
    const c = config();
    const db = openAgentDb(c.dataDir);
    try {
      const identity = new AgentIdentity(db);
      queue(db, 'e1');
      queue(db, 'e2');
      new ApiKeyStore(db, new MetaSecrets(db, c.hub.apiKey), clock.now).store('tbk_rotated1', 'tbk_rotatedsecret');
      const out = join(root, 'b');
      const m = await backupAgent(c, out, clock);
      expect(m).toMatchObject({
        format: 'tillbridge-agent-backup/1',
        createdAt: '2026-11-30T08:00:00.000Z',
        store: 'S1',
        agentId: identity.agentId,
        incarnation: identity.incarnation,
        outbox: { depth: 2, newestSeq: 2 },
        apiKey: { source: 'rotated', id: 'tbk_rotated1' },
      });
      expect(JSON.stringify(m)).not.toContain('tbk_rotatedsecret');
      expect(readdirSync(out).sort()).toEqual(['agent.sqlite', 'manifest.json']);
      expect(statSync(out).mode & 0o777).toBe(0o700);
      for (const f of readdirSync(out)) expect(statSync(join(out, f)).mode & 0o777, f).toBe(0o600);
      expect(outboxIds(join(out, 'agent.sqlite'))).toEqual(['e1', 'e2']);
      queue(db, 'e3'); // the agent goes on
    } finally {
      db.close();
    }
  });

  it('refuses a config whose data directory holds no database', async () => {
    await expect(backupAgent(config(), join(root, 'b'), clock)).rejects.toThrow(
      /no agent database in .*has the agent of this config/,
    );
  });
});

describe('restoreAgent', () => {
  async function backedUp(): Promise<{ c: AgentConfig; out: string }> {
    const c = config();
    const db = openAgentDb(c.dataDir);
    queue(db, 'e1');
    db.close();
    const out = join(root, 'b');
    await backupAgent(c, out, clock);
    return { c, out };
  }

  it(
    'refuses while the agent has its database open, ' + "over a database without --force, and another store's backup",
    async () => {
      const { c, out } = await backedUp();
      const live = openAgentDb(c.dataDir);
      try {
        expect(() => restoreAgent(out, c, { force: true, clock })).toThrow(/the agent is running on/);
      } finally {
        live.close();
      }
      expect(() => restoreAgent(out, c, { clock })).toThrow(/already holds an agent's database.*--force/);
      expect(() => restoreAgent(out, config('S2'), { force: true, clock })).toThrow(
        /a backup of store "S1"'s agent, but the config is store "S2"'s/,
      );
      const r = restoreAgent(out, c, { force: true, clock });
      expect(r.outbox.depth).toBe(1);
    },
  );

  it('into an empty data directory: made 0700, the file 0600', async () => {
    const { out } = await backedUp();
    const c = config('S1', join(root, 'fresh'));
    const r = restoreAgent(out, c, { clock });
    expect(r.keptAside).toEqual([]);
    expect(statSync(c.dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(agentDbPath(c.dataDir)).mode & 0o777).toBe(0o600);
    expect(outboxIds(agentDbPath(c.dataDir))).toEqual(['e1']);
  });
});

describe('placeRestoredFile over what a killed process left', () => {
  it(
    'moves the old WAL aside with its database: ' +
      'the restored file is the backup, and the old one keeps what its WAL held',
    () => {
      // a "killed" agent: its database with commits only in the WAL, the files copied while it was open
      const live = join(root, 'live');
      const c = config('S1', live);
      const db = openAgentDb(c.dataDir);
      db.pragma('wal_autocheckpoint = 0');
      queue(db, 'old-1');
      queue(db, 'old-2');
      const crashed = join(root, 'crashed');
      mkdirSync(crashed);
      for (const f of ['agent.sqlite', 'agent.sqlite-wal', 'agent.sqlite-shm'])
        copyFileSync(join(live, f), join(crashed, f));
      db.close();
      // the backup: another database
      const backup = join(root, 'backup.sqlite');
      const b = new Database(backup);
      b.exec(
        `CREATE TABLE outbox (seq INTEGER PRIMARY KEY, event_id TEXT);
         INSERT INTO outbox (event_id) VALUES ('restored-1');`,
      );
      b.close();

      const kept = placeRestoredFile(crashed, 'agent.sqlite', backup, { sqlite: true, stamp: 'S' });
      expect(kept.map((f) => f.slice(crashed.length + 1)).sort()).toEqual([
        'agent.sqlite.before-restore-S',
        'agent.sqlite.before-restore-S-wal',
      ]);
      expect(existsSync(join(crashed, 'agent.sqlite-wal'))).toBe(false);
      expect(existsSync(join(crashed, 'agent.sqlite-shm'))).toBe(false);
      expect(outboxIds(join(crashed, 'agent.sqlite'))).toEqual(['restored-1']);
      // the database it replaced, with its WAL, still holds the commits
      expect(outboxIds(join(crashed, 'agent.sqlite.before-restore-S'))).toEqual(['old-1', 'old-2']);
    },
  );
});
