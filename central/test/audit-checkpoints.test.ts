import { statSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TbCodes } from '@tillbridge/shared';
import { AuditTrail } from '../src/audit/trail.js';
import { iso } from '../src/domain/clock.js';
import { type ExportedEntry } from '../src/audit/entry.js';
import { entryHash } from '../src/domain/audit-log.js';
import { verifyCheckpointFile } from '../src/audit/checkpoint-file.js';
import { fingerprintOf, loadSigningKey, signingKeyPath } from '../src/audit/signing-key.js';
import { silent, testHub } from './helpers.js';
import { appendEntries, walkFromGenesis } from './audit-support.js';

const DAY = 86_400_000;

let t: ReturnType<typeof testHub>;
let trail: AuditTrail;
let t0: number;

const appendMany = (n: number): void => appendEntries(t.hub, n);

beforeEach(() => {
  t = testHub(); // init wrote entry 1 at the test clock's fixed start (2026-11-27T10:00Z)
  t0 = t.clock.t;
  expect(t.hub.audit.tail(1)[0]!.at).toBe(iso(t0));
  trail = new AuditTrail(t.hub.storage, t.hub.audit, t.clock, { dataDir: t.dir }, silent);
});
afterEach(() => t.cleanup());

describe('checkpoints', () => {
  it('are written every 1000 entries', () => {
    appendMany(998); // head 999
    expect(trail.checkpoints.maybeCheckpoint()).toBeUndefined();
    appendMany(1); // head 1000
    expect(trail.checkpoints.maybeCheckpoint()).toMatchObject({ seq: 1, id: 1000, entries: 1000, at: iso(t0) });
    expect(trail.checkpoints.maybeCheckpoint()).toBeUndefined();
    appendMany(999);
    expect(trail.checkpoints.maybeCheckpoint()).toBeUndefined();
    appendMany(250); // a batch may carry the head past the mark: the checkpoint is of the head
    expect(trail.checkpoints.maybeCheckpoint()).toMatchObject({ seq: 2, id: 2249 });
    expect(trail.checkpoints.list().map((c) => [c.seq, c.id])).toEqual([
      [2, 2249],
      [1, 1000],
    ]);
    expect(trail.checkpoints.latest()!.hash).toBe(trail.query.head()!.hash);
  });

  it('are written daily when the chain grew', () => {
    appendMany(5);
    expect(trail.checkpoints.maybeCheckpoint()).toBeUndefined();
    t.clock.advance(DAY - 1);
    expect(trail.checkpoints.maybeCheckpoint()).toBeUndefined();
    t.clock.advance(1); // a day after the first entry
    expect(trail.checkpoints.maybeCheckpoint()).toMatchObject({ seq: 1, id: 6, at: iso(t0 + DAY) });
    t.clock.advance(DAY);
    expect(trail.checkpoints.maybeCheckpoint()).toBeUndefined(); // nothing new to vouch for
    appendMany(1);
    expect(trail.checkpoints.maybeCheckpoint()).toMatchObject({ seq: 2, id: 7, at: iso(t0 + 2 * DAY) });
    appendMany(1);
    t.clock.advance(DAY - 1);
    expect(trail.checkpoints.maybeCheckpoint()).toBeUndefined();
    trail.runDue(); // the hub's timer does the same
    t.clock.advance(1);
    trail.runDue();
    expect(trail.checkpoints.latest()).toMatchObject({ seq: 3, id: 8 });
  });

  it(
    'are signed with an Ed25519 key made on first use (on PostgreSQL by init, to be copied to every process), 0600 ' +
      'in the data dir, whose public half verifies them',
    () => {
      if (t.hub.storage.engine === 'sqlite') expect(loadSigningKey(t.dir)).toBeUndefined();
      else expect(loadSigningKey(t.dir)).toBeDefined();
      appendMany(999);
      const rec = trail.checkpoints.maybeCheckpoint()!;
      expect(statSync(signingKeyPath(t.dir)).mode & 0o777).toBe(0o600);
      const pub = trail.checkpoints.publicKey();
      expect(createPublicKey(pub.publicKey).asymmetricKeyType).toBe('ed25519');
      expect(pub.fingerprint).toBe(fingerprintOf(createPublicKey(pub.publicKey)));
      expect(pub.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
      const file = trail.checkpoints.file(rec);
      expect(file).toMatchObject({
        format: 'tillbridge-audit-checkpoint/1',
        checkpoint: { kind: 'tillbridge.audit.checkpoint', v: 1, seq: 1, id: 1000, hash: rec.hash, entries: 1000 },
        publicKey: pub.publicKey,
        fingerprint: pub.fingerprint,
      });
      expect(
        verifyCheckpointFile(JSON.parse(JSON.stringify(file)), { fingerprint: pub.fingerprint }).body,
      ).toMatchObject({ id: 1000, hash: rec.hash });
      // a second trail over the same data dir uses the same key
      const again = new AuditTrail(t.hub.storage, t.hub.audit, t.clock, { dataDir: t.dir }, silent);
      expect(again.checkpoints.publicKey().fingerprint).toBe(pub.fingerprint);
    },
  );

  it('nudged after appends: one check at the next turn, however many nudges', async () => {
    appendMany(999);
    for (let i = 0; i < 5; i++) trail.nudge();
    expect(trail.checkpoints.latest()).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(trail.checkpoints.list().map((c) => c.id)).toEqual([1000]);
    appendMany(1000);
    trail.stop();
    trail.nudge();
    await new Promise((r) => setImmediate(r));
    expect(trail.checkpoints.list().map((c) => c.id)).toEqual([1000]);
  });

  it('on request: the request is audited and the checkpoint covers it; no new one when nothing changed', () => {
    const a = trail.checkpoints.create('admin:tba_x')!;
    expect(a).toMatchObject({ seq: 1, id: 2 });
    expect(t.hub.audit.tail(1)[0]).toMatchObject({ id: 2, actor: 'admin:tba_x', action: 'audit.checkpoint' });
    expect(trail.checkpoints.create()).toMatchObject({ seq: 1, id: 2 });
  });
});

describe('verifying the stored chain against the checkpoints', () => {
  beforeEach(() => {
    appendMany(999);
    trail.checkpoints.maybeCheckpoint(); // head 1000
    appendMany(20);
  });

  it('passes an intact chain, counting the checkpoints it checked', () => {
    expect(trail.verify()).toEqual({
      ok: true,
      entries: 1020,
      head: trail.query.head()!.hash,
      from: 1,
      to: 1020,
      checkpoints: 1,
    });
  });

  it('catches a rewrite whose hashes were all recomputed, where the plain chain walk cannot', () => {
    const db = t.hub.storage.db;
    const rows = db.prepare(`SELECT * FROM audit WHERE id >= 10 ORDER BY id`).all() as ExportedEntry[];
    let prev = (db.prepare(`SELECT hash FROM audit WHERE id = 9`).get() as { hash: string }).hash;
    const upd = db.prepare(`UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?`);
    t.hub.storage.tx(() => {
      for (const r of rows) {
        const e = { ...r, actor: r.id === 10 ? 'someone-else' : r.actor, prev_hash: prev, origin: null };
        const h = entryHash(e);
        upd.run(e.actor, prev, h, r.id);
        prev = h;
      }
    });
    // the chain alone is consistent
    const fromGenesis = walkFromGenesis(t.hub);
    expect(fromGenesis.problem).toBeUndefined();
    expect(fromGenesis.count).toBe(t.hub.audit.tail(1)[0]!.id);
    expect(trail.verify()).toMatchObject({
      ok: false,
      firstBad: 1000,
      problem: expect.stringContaining('signed checkpoint'),
    });
  });

  it('catches a cut tail that a checkpoint vouched for', () => {
    t.hub.storage.db.prepare(`DELETE FROM audit WHERE id > 990`).run();
    expect(trail.verify()).toMatchObject({
      ok: false,
      firstBad: 991,
      problem: expect.stringContaining('entries 991..1000 are gone (the tail was cut)'),
    });
  });

  it('catches a checkpoint whose signed payload was changed', () => {
    const db = t.hub.storage.db;
    const p = (db.prepare(`SELECT payload FROM audit_checkpoints WHERE seq = 1`).get() as { payload: string }).payload;
    db.prepare(`UPDATE audit_checkpoints SET payload = ? WHERE seq = 1`).run(
      p.replace('"entries":1000', '"entries":999'),
    );
    expect(trail.verify()).toMatchObject({
      ok: false,
      firstBad: 1000,
      problem: expect.stringContaining('signature does not verify'),
    });
  });

  it('still names a plainly changed entry', () => {
    t.hub.storage.db.prepare(`UPDATE audit SET outcome = 'tampered' WHERE id = 4`).run();
    expect(trail.verify()).toMatchObject({
      ok: false,
      firstBad: 4,
      problem: 'entry 4 was changed after it was written',
    });
  });

  it('reports an empty log that a checkpoint says had entries', () => {
    t.hub.storage.db.prepare(`DELETE FROM audit`).run();
    expect(trail.verify()).toMatchObject({ ok: false, firstBad: 1 });
  });

  it('refuses to trust checkpoints when the signing key is gone', async () => {
    const { rmSync } = await import('node:fs');
    rmSync(signingKeyPath(t.dir));
    const fresh = new AuditTrail(t.hub.storage, t.hub.audit, t.clock, { dataDir: t.dir }, silent);
    expect(fresh.verify()).toMatchObject({
      ok: false,
      firstBad: 1000,
      problem: expect.stringContaining('signing key is missing'),
    });
  });

  it('pages the entries of a range, a store, contiguous', () => {
    t.clock.advance(DAY);
    appendMany(3); // 1021..1023 a day later
    t.hub.audit.append({
      actor: 'admin:x',
      action: 'store.create',
      outcome: 'created',
      store: 'S2',
      resource: 'store:S2',
    }); // 1024
    const q = trail.query;
    expect(q.page({ since: '2026-11-28', limit: 2 })).toMatchObject({
      entries: [{ id: 1021 }, { id: 1022 }],
      next: 1022,
      head: 1024,
      estimate: 4,
    });
    expect(q.page({ since: '2026-11-28', after: 1022, limit: 2 })).toMatchObject({
      entries: [{ id: 1023 }, { id: 1024 }],
      next: null,
    });
    expect(q.page({ until: '2026-11-28', after: 1015, limit: 100 }).entries.map((e) => e.id)).toEqual([
      1016, 1017, 1018, 1019, 1020,
    ]);
    expect(q.page({ store: 'S2', limit: 10 }).entries.map((e) => e.id)).toEqual([1024]);
    expect(q.page({ since: '2026-12-01', limit: 10 })).toMatchObject({ entries: [], next: null });
    expect(() => q.page({ since: 'yesterday' })).toThrow(expect.objectContaining({ code: TbCodes.INVALID }));
    // no since: the last 90 days
    t.clock.advance(100 * DAY);
    expect(q.page({ limit: 10 })).toMatchObject({ entries: [], next: null });
    expect(q.page({ since: '2026-11-01', limit: 10 }).entries[0]!.id).toBe(1);
  });
});
