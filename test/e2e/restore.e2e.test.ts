import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentStatus, onHand } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { drained, invariantViolations, returnRequest, skuWorld, type Decision } from './fixture.js';

/**
 * DESIGN rule 9 through the real binaries: an agent's database restored from a backup, reverted
 * after it had moved on, or copied onto a second PC. Every sale reaches the hub exactly once;
 * a second live copy is refused loudly and loses nothing.
 */

const { w, sell, sold } = skuWorld();

const FILES = ['agent.sqlite', 'agent.sqlite-wal', 'agent.sqlite-shm'];

/** Copies a stopped agent's SQLite file (with its WAL, should one be left) from `from` to `to`. */
function copyDb(from: string, to: string): void {
  for (const f of FILES) rmSync(join(to, f), { force: true });
  for (const f of FILES) if (existsSync(join(from, f))) cpSync(join(from, f), join(to, f));
}

function expectExactlyOnce(prefix: string, receipts: string[]): void {
  const held = w.hubReceipts(prefix);
  expect([...held.keys()].sort()).toEqual([...receipts].sort());
  for (const r of receipts) expect(held.get(r), r).toBe(1);
  const dup = w.hubQuery<{ n: number }>(`SELECT COUNT(*) AS n FROM exceptions WHERE code = 'duplicate_receipt'`)[0]!.n;
  expect(dup).toBe(0);
}

const audited = (action: string) =>
  w.hubQuery<{ details: string }>(`SELECT details FROM audit WHERE action = ? ORDER BY id`, action);

describe('restored, reverted and cloned agent databases (DESIGN rule 9)', () => {
  it(
    'a database put back from an older copy: every sale reaches the ' +
      'hub once, and register message ids keep their authorizations',
    async () => {
      const stockBefore = (await onHand(w.hub, 'S1', 'K'))!;
      let { agent: a, reg } = await sold('r1', ['R-1', 'R-2']);

      // two more sales while the hub is away: they are still in the outbox when the copy is taken
      const port = w.hub.port;
      await w.hub.proc.stop();
      await a.proc.waitForLine((l) => l.msg === 'disconnected from the hub');
      await sell(reg, ['R-3', 'R-4']);
      reg.close();
      await a.proc.stop();
      const backup = join(w.dir, 'r1-backup');
      cpSync(a.dataDir, backup, { recursive: true });

      // the store goes on: the queued sales leave, more are made, and a return is decided online
      await w.startHub(port);
      a = await w.startAgent('S1', 'r1');
      reg = await JsonLinesRegister.connect(a.port());
      await sell(reg, ['R-5', 'R-6', 'R-7']);
      const first = await reg.send<Decision>(returnRequest('rq-1', 'R-1'));
      expect(first).toMatchObject({ decision: 'approved', mode: 'online' });
      await drained(a);
      reg.close();
      await a.proc.stop();

      // the old copy is put back
      copyDb(backup, a.dataDir);
      a = await w.startAgent('S1', 'r1');
      reg = await JsonLinesRegister.connect(a.port());
      await sell(reg, ['R-8', 'R-9']);
      // the register asks again about the return it asked about before the restore: the same authorization, the same
      // answer
      const again = await reg.send<Decision>(returnRequest('rq-1', 'R-1'));
      expect(again).toMatchObject({ decision: 'approved', authorization: first.authorization });
      // a new message is a new authorization
      const second = await reg.send<Decision>(returnRequest('rq-2', 'R-2'));
      expect(second.authorization).not.toBe(first.authorization);
      await drained(a);
      reg.close();

      expectExactlyOnce('R-', ['R-1', 'R-2', 'R-3', 'R-4', 'R-5', 'R-6', 'R-7', 'R-8', 'R-9']);
      expect(w.hubQuery<{ n: number }>(`SELECT COUNT(*) AS n FROM returns WHERE receipt = 'R-1'`)[0]!.n).toBe(1);
      expect(await onHand(w.hub, 'S1', 'K')).toBe(stockBefore - 9);
      expect(
        audited('agent.restored').map((e) => JSON.parse(e.details) as { newest: number; applied: number }),
      ).toEqual([expect.objectContaining({ newest: 4, applied: 7 })]);
      expect(invariantViolations(w)).toEqual({ overReturned: [], ledgerDrift: [] });
      await a.proc.stop();
    },
  );

  it(
    'a reverted database that sold more than the hub had seen ' +
      'from the abandoned history: taken by id, flagged as a fork',
    async () => {
      let { agent: a, reg } = await sold('f1', ['F-1']);
      reg.close();
      await a.proc.stop();
      const snapshot = join(w.dir, 'f1-snapshot');
      cpSync(a.dataDir, snapshot, { recursive: true });

      ({ agent: a, reg } = await sold('f1', ['F-2', 'F-3']));
      reg.close();
      await a.proc.stop();

      // reverted; it sells three times while the hub is away, so it is not behind when it comes back
      copyDb(snapshot, a.dataDir);
      const port = w.hub.port;
      await w.hub.proc.stop();
      a = await w.startAgent('S1', 'f1', undefined, false);
      reg = await JsonLinesRegister.connect(a.port());
      await sell(reg, ['F-4', 'F-5', 'F-6']);
      await w.startHub(port);
      await drained(a);
      reg.close();

      expectExactlyOnce('F-', ['F-1', 'F-2', 'F-3', 'F-4', 'F-5', 'F-6']);
      const listed = await w.hub.cli(['returns', 'exceptions', '--store', 'S1', '--json']);
      expect(listed.code).toBe(0);
      const forks = (JSON.parse(listed.stdout) as { code: string; kind: string }[]).filter(
        (e) => e.code === 'agent_forked',
      );
      expect(forks).toHaveLength(1);
      expect(audited('agent.forked')).toHaveLength(1);
      await a.proc.stop();
    },
  );

  it(
    'two agents from one database file: the second is refused ' + 'loudly while the first is live, and nothing is lost',
    async () => {
      let { agent: c1, reg: reg1 } = await sold('c1', ['C-1']);
      reg1.close();
      await c1.proc.stop();
      // a second PC from the same disk image
      cpSync(c1.dataDir, join(w.dir, 'agent-c2', 'data'), { recursive: true });

      c1 = await w.startAgent('S1', 'c1');
      const c2 = await w.startAgent('S1', 'c2', undefined, false);
      const refused = await c2.proc.waitForLine((l) => l.code === 'TB_DUPLICATE_AGENT', 30_000);
      expect(String(refused.msg)).toMatch(/another copy of this agent/);
      // it keeps being refused while the first copy is live (and is flagged once)
      await c2.proc.waitForLine((l) => l.code === 'TB_DUPLICATE_AGENT' && l !== refused, 30_000);

      const status = await c2.cli(['status', '--config', c2.configFile, '--json']);
      const s = JSON.parse(status.stdout) as {
        hub: { connected: boolean; refused?: { code: string; reason: string } };
      };
      expect(s.hub.connected).toBe(false);
      expect(s.hub.refused).toMatchObject({ code: 'TB_DUPLICATE_AGENT' });
      const text = await c2.cli(['status', '--config', c2.configFile]);
      expect(text.stdout).toMatch(/REFUSED/);

      const listed = await w.hub.cli(['returns', 'exceptions', '--store', 'S1', '--json']);
      const dups = (JSON.parse(listed.stdout) as { code: string; reason: string }[]).filter(
        (e) => e.code === 'duplicate_agent',
      );
      expect(dups).toHaveLength(1);
      expect(dups[0]!.reason).toMatch(/another copy/);
      expect(audited('agent.duplicate')).toHaveLength(1);

      // both PCs sell; the first one's sales reach the hub, the second one's wait in its outbox
      reg1 = await JsonLinesRegister.connect(c1.port());
      await sell(reg1, ['C-2', 'C-3']);
      await drained(c1);
      const reg2 = await JsonLinesRegister.connect(c2.port());
      await sell(reg2, ['D-1', 'D-2']);
      expect((await agentStatus(c1)).hub.connected).toBe(true);
      expect((await agentStatus(c2)).outbox.depth).toBe(2);
      expect(w.hubReceipts('D-').size).toBe(0);

      // the first PC is retired: the second one's sales arrive, each once
      reg1.close();
      await c1.proc.stop();
      await drained(c2);
      reg2.close();
      expectExactlyOnce('C-', ['C-1', 'C-2', 'C-3']);
      expectExactlyOnce('D-', ['D-1', 'D-2']);
      expect(invariantViolations(w)).toEqual({ overReturned: [], ledgerDrift: [] });
      await c2.proc.stop();
    },
  );
});
