import { cpSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentStatus, startHub } from '@tillbridge/scripts/lib/cluster';
import { AGENT_BIN, HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { PG_MIGRATIONS } from '@tillbridge/central';
import { drained, invariantViolations, returnRequest, skuWorld, type Decision } from './fixture.js';

/**
 * Backup and restore through the real binaries (docs/backup.md): an agent's database backed up
 * while it runs, the agent killed and its backup restored — every sale reaches the hub once
 * (DESIGN rule 9: the hub has it start a new incarnation and takes its outbox by id); a hub backed
 * up while it serves and takes sales, restored into a new data directory, serves and verifies.
 */

const { w, sell, sold } = skuWorld();

const mode = (f: string): number => statSync(f).mode & 0o777;
const posix = process.platform !== 'win32';

describe('tillbridge-agent backup and restore', () => {
  it(
    'backed up while running, killed, restored: A, B and C reach the ' +
      'hub exactly once, and the restored agent starts a new incarnation',
    async () => {
      let { agent: a, reg } = await sold('b1', ['A-1', 'A-2']);
      const agentId = w.agentQuery<{ value: string }>(a, `SELECT value FROM meta WHERE key = 'agent_id'`)[0]!.value;

      // one more sale while the hub is away: it is in the outbox when the backup is taken
      await w.stopHubs();
      await a.proc.waitForLine((l) => l.msg === 'disconnected from the hub');
      await sell(reg, ['A-3']);
      const dir = join(w.dir, 'agent-backup');
      const b = await a.cli(['backup', '--config', a.configFile, dir, '--json']);
      expect(b.code, b.stderr).toBe(0);
      const manifest = JSON.parse(b.stdout) as {
        format: string;
        store: string;
        agentId: string;
        incarnation: string;
        outbox: { depth: number };
        files: { name: string; sha256: string }[];
      };
      expect(manifest).toMatchObject({
        format: 'tillbridge-agent-backup/1',
        store: 'S1',
        agentId,
        outbox: { depth: 1 },
      });
      expect(manifest.files.map((f) => f.name)).toEqual(['agent.sqlite']);
      expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))).toMatchObject({
        agentId,
        outbox: { depth: 1 },
      });
      if (posix) {
        expect(mode(dir)).toBe(0o700);
        expect(mode(join(dir, 'agent.sqlite'))).toBe(0o600);
        expect(mode(join(dir, 'manifest.json'))).toBe(0o600);
      }
      // the agent went on serving while it was copied
      await sell(reg, ['A-4']);

      // the hub comes back: leave; then B is sold and reaches the hub
      await w.restartHubs();
      await drained(a);
      await sell(reg, ['B-1', 'B-2']);
      await drained(a);
      expect([...w.hubReceipts('B-').keys()]).toEqual(['B-1', 'B-2']);

      // a restore is refused while the agent runs, even with --force
      const live = await a.cli(['restore', dir, '--config', a.configFile, '--force']);
      expect(live.code).toBe(1);
      expect(live.stderr).toMatch(/the agent is running/);

      // the PC dies (no clean stop: its WAL is left behind), and the backup is put back
      reg.close();
      await a.proc.kill();
      const noForce = await a.cli(['restore', dir, '--config', a.configFile]);
      expect(noForce.code).toBe(1);
      expect(noForce.stderr).toMatch(/already holds an agent's database.*--force/);
      const r = await a.cli(['restore', dir, '--config', a.configFile, '--force', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const restored = JSON.parse(r.stdout) as {
        agentId: string;
        incarnation: string;
        outbox: { depth: number };
        keptAside: string[];
      };
      expect(restored).toMatchObject({ agentId, incarnation: manifest.incarnation, outbox: { depth: 1 } });
      expect(restored.keptAside.some((f) => f.includes('agent.sqlite.before-restore-'))).toBe(true);
      expect(existsSync(join(a.dataDir, 'agent.sqlite-wal'))).toBe(false);
      if (posix) expect(mode(join(a.dataDir, 'agent.sqlite'))).toBe(0o600);
      // what the agent had before the restore: A-4 and B are not in the copy
      expect(w.agentQuery<{ receipt: string }>(a, `SELECT receipt FROM receipts WHERE receipt LIKE 'B-%'`)).toEqual([]);

      a = await w.startAgent('S1', 'b1');
      reg = await JsonLinesRegister.connect(a.port());
      await drained(a);
      await sell(reg, ['C-1']);
      await drained(a);
      // B, which only the hub has now, can still be returned: the hub answers for it
      const ret = await reg.send<Decision>(returnRequest('rq-b1', 'B-1'));
      expect(ret).toMatchObject({ decision: 'approved', mode: 'online' });
      reg.close();

      const held = w.hubReceipts('');
      for (const rc of ['A-1', 'A-2', 'A-3', 'A-4', 'B-1', 'B-2', 'C-1']) expect(held.get(rc), rc).toBe(1);
      expect(held.size).toBe(7);
      expect(w.hubQuery<{ n: number }>(`SELECT COUNT(*) AS n FROM exceptions`)[0]!.n).toBe(0);
      // the hub found the restored database behind and had it start a new incarnation, once
      const restoredAudit = w.hubQuery<{ details: string }>(
        `SELECT details FROM audit WHERE action = 'agent.restored'`,
      );
      expect(restoredAudit).toHaveLength(1);
      expect(JSON.parse(restoredAudit[0]!.details)).toMatchObject({ incarnation: manifest.incarnation });
      // the agent's own state: the same agent, a new incarnation, nothing owed
      const meta = new Map(
        w
          .agentQuery<{ key: string; value: string }>(
            a,
            `SELECT key, value FROM meta WHERE key IN ('agent_id', 'incarnation')`,
          )
          .map((m) => [m.key, m.value]),
      );
      expect(meta.get('agent_id')).toBe(agentId);
      expect(meta.get('incarnation')).not.toBe(manifest.incarnation);
      expect((await agentStatus(a)).outbox.depth).toBe(0);
      expect(invariantViolations(w)).toEqual({ overReturned: [], ledgerDrift: [] });
      await a.proc.stop();
    },
  );

  it('refuses a backup of another store, and a damaged one naming the file', async () => {
    const a = await w.startAgent('S1', 'b2');
    const dir = join(w.dir, 'agent-backup-2');
    const b = await a.cli(['backup', '--config', a.configFile, dir]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/backup written to/);
    // a second backup into the same directory is refused
    const again = await a.cli(['backup', '--config', a.configFile, dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds a backup/);
    await a.proc.stop();

    const other = JSON.parse(readFileSync(a.configFile, 'utf8')) as Record<string, unknown>;
    const otherConfig = join(w.dir, 'other-store.json');
    writeFileSync(otherConfig, JSON.stringify({ ...other, store: 'S9' }), { mode: 0o600 });
    const wrongStore = await a.cli(['restore', dir, '--config', otherConfig, '--force']);
    expect(wrongStore.code).toBe(2);
    expect(wrongStore.stderr).toMatch(/store "S1"'s agent, but the config is store "S9"'s/);

    const damaged = join(w.dir, 'agent-backup-damaged');
    cpSync(dir, damaged, { recursive: true });
    const db = readFileSync(join(damaged, 'agent.sqlite'));
    db[db.length - 10] = db[db.length - 10]! ^ 0xff;
    writeFileSync(join(damaged, 'agent.sqlite'), db);
    const bad = await a.cli(['restore', damaged, '--config', a.configFile, '--force']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/agent\.sqlite does not match its checksum/);
    rmSync(join(damaged, 'agent.sqlite'));
    const missing = await a.cli(['restore', damaged, '--config', a.configFile, '--force']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/agent\.sqlite \(database\) is missing/);
  });
});

describe('tillbridge-hub backup and restore', () => {
  it('backed up while serving and taking sales, restored into a new data directory: serves and verifies', async () => {
    const { agent: a, reg } = await sold('h1', ['H-1', 'H-2']);
    // sales keep coming while the backup is taken
    let n = 3;
    let selling = true as boolean; // set to false by the test while the loop runs
    const acked: string[] = [];
    const loop = (async () => {
      while (selling) {
        const rc = `H-${n++}`;
        await sell(reg, [rc]);
        acked.push(rc);
      }
    })();
    await waitFor('sales during the backup', () => acked.length >= 3, 10_000);
    const dir = join(w.dir, 'hub-backup');
    const b = await w.hub.cli(['backup', '--data', w.hubData, dir, '--json']);
    await waitFor('more sales after it', () => acked.length >= 6, 10_000);
    selling = false;
    await loop;
    expect(b.code, b.stderr).toBe(0);
    const manifest = JSON.parse(b.stdout) as {
      format: string;
      engine: string;
      schemaVersion: number;
      files: { name: string; role: string }[];
      pgDump?: string;
    };
    expect(manifest.format).toBe('tillbridge-hub-backup/1');
    if (posix) {
      expect(mode(dir)).toBe(0o700);
      for (const f of manifest.files) expect(mode(join(dir, f.name)), f.name).toBe(0o600);
    }
    await drained(a);
    reg.close();
    await a.proc.stop();

    if (w.backend === 'postgres') {
      // the database is PostgreSQL's to dump: only the key files, and the recipe
      expect(manifest.engine).toBe('postgres');
      // read from the database's own schema table, as the hub that made it wrote it
      expect(manifest.schemaVersion).toBe(PG_MIGRATIONS.length);
      expect(manifest.files.map((f) => f.name)).toEqual(expect.arrayContaining(['hub.secret']));
      expect(manifest.files.map((f) => f.name)).not.toContain('hub.sqlite');
      expect(manifest.pgDump).toMatch(/pg_dump --format=custom/);
      const text = await w.hub.cli(['backup', '--data', w.hubData, join(w.dir, 'hub-backup-text')]);
      expect(text.stdout).toMatch(/DATABASE IS NOT IN THIS BACKUP/);
      // the key files into another process's data directory, checked against the database
      const keys = join(w.dir, 'hub-keys-restored');
      const without = await w.hub.cli(['restore', dir, '--data', keys, '--database', '']);
      expect(without.code).toBe(2);
      expect(without.stderr).toMatch(/pg_restore the database first|restore the database with pg_restore first/);
      const r = await w.hub.cli(['restore', dir, '--data', keys]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/hub\.secret opens the database: yes/);
      expect(r.stdout).toMatch(/audit log intact/);
      return;
    }
    expect(manifest.engine).toBe('sqlite');
    expect(manifest.files.map((f) => f.role)).toEqual(expect.arrayContaining(['database', 'secret']));

    // over the serving hub's own data directory: refused, with or without --force
    const over = await w.hub.cli(['restore', dir, '--data', w.hubData]);
    expect(over.code).toBe(6);
    expect(over.stderr).toMatch(/a hub is serving from/);
    const overForce = await w.hub.cli(['restore', dir, '--data', w.hubData, '--force']);
    expect(overForce.code).toBe(6);
    expect(overForce.stderr).toMatch(/a hub is serving from/);

    // a damaged copy is refused naming the file; one missing a file too
    const damaged = join(w.dir, 'hub-backup-damaged');
    cpSync(dir, damaged, { recursive: true });
    writeFileSync(join(damaged, 'hub.secret'), 'AAAA' + readFileSync(join(damaged, 'hub.secret'), 'utf8').slice(4));
    const bad = await w.hub.cli(['restore', damaged, '--data', join(w.dir, 'hub-from-damaged')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/hub\.secret does not match its checksum/);
    expect(existsSync(join(w.dir, 'hub-from-damaged'))).toBe(false);
    rmSync(join(damaged, 'hub.sqlite'));
    const missing = await w.hub.cli(['restore', damaged, '--data', join(w.dir, 'hub-from-damaged')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/hub\.sqlite \(database\) is missing/);

    // into a new data directory: restored, hub.secret opens it, the chain verifies
    const data = join(w.dir, 'hub-restored');
    const r = await w.hub.cli(['restore', dir, '--data', data]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/hub\.secret opens the database: yes/);
    expect(r.stdout).toMatch(/audit log intact: \d+ entries/);
    if (posix) {
      expect(mode(data)).toBe(0o700);
      for (const f of ['hub.sqlite', 'hub.secret']) expect(mode(join(data, f)), f).toBe(0o600);
    }

    // it serves, and answers for what it holds
    const restored = await startHub({ dataDir: data, adminToken: w.adminToken, name: 'restored hub' });
    try {
      const stores = await restored.admin.get<{ id: string }[]>('/v1/admin/stores');
      expect(stores.map((s) => s.id)).toContain('S1');
      const verify = await restored.cli(['audit', 'verify', '--json']);
      expect(verify.code, verify.stderr).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
    } finally {
      await restored.proc.stop();
    }
    // one snapshot: the sales the hub had before the backup began, each once, each with its applied
    // event, and on-hand still the sum of the movements (no half of a batch)
    const file = join(data, 'hub.sqlite');
    const copy = w.query<{ receipt: string; n: number }>(
      file,
      `SELECT s.receipt, (SELECT COUNT(*) FROM applied_events e WHERE
        e.event_id = s.event_id) AS n FROM sales s WHERE s.receipt LIKE 'H-%'`,
    );
    expect(copy.map((s) => s.receipt)).toEqual(expect.arrayContaining(['H-1', 'H-2']));
    for (const s of copy) expect(s.n, s.receipt).toBe(1);
    expect(
      w.query(
        file,
        `SELECT i.store, i.sku FROM inventory i WHERE i.on_hand <> (SELECT
          COALESCE(SUM(delta), 0) FROM movements m WHERE m.store = i.store AND m.sku = i.sku)`,
      ),
    ).toEqual([]);
  });
});

describe('bad usage exits 2', () => {
  const env = { TILLBRIDGE_CONFIG: '' };
  it.each([
    [HUB_BIN, ['backup', '--data', '/nonexistent'], /missing required argument 'dir'/],
    [HUB_BIN, ['backup', 'somewhere'], /required option '--data <dir>' not specified/],
    [HUB_BIN, ['restore', 'somewhere', '--data', 'x', '--nope'], /unknown option '--nope'/],
    [AGENT_BIN, ['restore', '--config', 'x.json'], /missing required argument 'dir'/],
    [AGENT_BIN, ['backup', 'somewhere'], /no config file: pass --config FILE or set TILLBRIDGE_CONFIG/],
  ])('%s %j', async (bin, args, pattern) => {
    const r = await runCommand(process.execPath, [bin, ...args], env);
    expect(r.stderr).toMatch(pattern);
    expect(r.code).toBe(2);
  });
});
