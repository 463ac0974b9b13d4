import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TbCodes } from '@tillbridge/shared';
import { AuditTrail } from '../src/audit/trail.js';
import { formatEntry } from '../src/audit/export-format.js';
import { batchEnds, parseRetentionDays } from '../src/audit/retention.js';
import { verifyFiles } from '../src/audit/verify-export.js';
import { silent, testHub } from './helpers.js';
import { appendEntries, walkFromGenesis } from './audit-support.js';

const DAY = 86_400_000;

let t: ReturnType<typeof testHub>;
let trail: AuditTrail;

const appendMany = (n: number): void => appendEntries(t.hub, n);

/** [oldest, newest] retained entry ids. */
function ids(): [number, number] {
  const r = t.hub.storage.db.prepare(`SELECT MIN(id) AS a, MAX(id) AS b FROM audit`).get() as { a: number; b: number };
  return [r.a, r.b];
}

beforeEach(() => {
  t = testHub();
  t.clock.t = Date.parse(t.hub.audit.tail(1)[0]!.at); // init's entry was written on the real clock
  trail = new AuditTrail(
    t.hub.storage,
    t.hub.audit,
    t.clock,
    { dataDir: t.dir, retentionDays: 400, everyEntries: 100 },
    silent,
  );
  // 500 days of history, 100 entries every 50 days: a checkpoint every 100 entries
  for (let day = 0; day < 500; day += 50) {
    appendMany(100);
    trail.checkpoints.maybeCheckpoint();
    t.clock.advance(50 * DAY);
  }
  appendMany(10); // today's, after the last checkpoint
});
afterEach(() => t.cleanup());

describe('audit retention', () => {
  it('prunes entries older than the retention up to a checkpoint, and the chain still verifies from there', () => {
    expect(trail.verify()).toMatchObject({ ok: true, from: 1, to: 1011, checkpoints: 10 });
    const r = trail.retention.pruneOlderThan(400);
    // cutoff = day 100: the entries of days 0 and 50 go (through the checkpoint at 201)
    expect(r).toEqual({ removed: 201, through: 201, cutoff: new Date(t.clock.now() - 400 * DAY).toISOString() });
    expect(ids()).toEqual([202, 1012]);
    expect(t.hub.audit.tail(1)[0]).toMatchObject({
      id: 1012,
      actor: 'hub:retention',
      action: 'audit.prune',
      details: expect.stringContaining('"through":201'),
    });
    expect(trail.verify()).toMatchObject({ ok: true, entries: 811, from: 202, to: 1012 });
    // the checkpoint anchoring entry 202 stays; the older one went
    expect(
      trail.checkpoints
        .list(100)
        .map((c) => c.id)
        .sort((a, b) => a - b)[0],
    ).toBe(201);
    // the plain chain walk would now call this broken; the checkpoint-anchored one does not
    expect(walkFromGenesis(t.hub).problem).toMatchObject({ firstBad: 202 });
    // nothing more is old enough
    expect(trail.retention.pruneOlderThan(400)).toMatchObject({ removed: 0, through: null });
  });

  it('keeps the chain verifiable away from the hub after pruning', async () => {
    trail.retention.pruneOlderThan(400);
    const cp = trail.checkpoints.file(trail.checkpoints.create()!);
    const dir = mkdtempSync(join(tmpdir(), 'tb-audit-ret-'));
    try {
      let text = '';
      for (const e of trail.query.iterate()) text += formatEntry(e, 'jsonl');
      writeFileSync(join(dir, 'cp.json'), JSON.stringify(cp));
      writeFileSync(join(dir, 'audit.jsonl'), text);
      expect(await verifyFiles({ checkpoint: join(dir, 'cp.json'), export: join(dir, 'audit.jsonl') })).toMatchObject({
        ok: true,
        from: 202,
        to: 1012,
        vouched: 811,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells pruning from removal: entries deleted beyond the recorded pruning are reported', () => {
    trail.retention.pruneOlderThan(400);
    t.hub.storage.db.prepare(`DELETE FROM audit WHERE id <= 301`).run(); // up to the next checkpoint, by hand
    expect(trail.verify()).toMatchObject({
      ok: false,
      firstBad: 302,
      problem: expect.stringContaining('removed, not pruned'),
    });
  });

  it('reports a gap at the start that no checkpoint vouches for', () => {
    t.hub.storage.db.prepare(`DELETE FROM audit WHERE id <= 150`).run();
    expect(trail.verify()).toMatchObject({
      ok: false,
      firstBad: 151,
      problem: expect.stringContaining('no signed checkpoint vouches for entry 150'),
    });
  });

  it('runs once a day from the hub timer with the configured retention', () => {
    trail.runDue();
    expect(ids()[0]).toBe(202);
    t.clock.advance(50 * DAY);
    appendMany(1);
    trail.runDue();
    expect(ids()[0]).toBe(302);
    const before = ids();
    t.clock.advance(DAY - 1);
    trail.runDue();
    expect(ids()).toEqual(before); // less than a day since the last run: nothing
    expect(trail.verify()).toMatchObject({ ok: true, from: 302 });
  });

  it('keeps at least the 90 days the API serves at once', () => {
    expect(() => trail.retention.pruneOlderThan(30)).toThrow(expect.objectContaining({ code: TbCodes.INVALID }));
    expect(parseRetentionDays('400d')).toBe(400);
    expect(parseRetentionDays('120')).toBe(120);
    expect(() => parseRetentionDays('30d')).toThrow(expect.objectContaining({ code: TbCodes.CONFIG }));
    expect(() => parseRetentionDays('1y')).toThrow(expect.objectContaining({ code: TbCodes.CONFIG }));
  });

  it('deletes in batches that each end at a checkpoint head', () => {
    expect([...batchEnds([100, 200, 300, 400, 500, 600], 1, 600, 250)]).toEqual([200, 400, 600]);
    expect([...batchEnds([100, 900, 1000], 1, 900, 250)]).toEqual([100, 900]);
    expect([...batchEnds([100, 200, 300], 50, 200, 1000)]).toEqual([200]);
    expect([...batchEnds([], 1, 200, 1000)]).toEqual([]);
  });
});
