import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entryHash } from '../src/domain/audit-log.js';
import { testHub } from './helpers.js';

let t: ReturnType<typeof testHub>;
beforeEach(() => {
  t = testHub();
  for (let i = 0; i < 5; i++) t.hub.audit.append({ actor: 'test', action: 'thing', outcome: 'ok', resource: `r${i}` });
});
afterEach(() => t.cleanup());

describe('audit log', () => {
  it('verifies an untouched chain', () => {
    const r = t.hub.auditTrail.verify();
    expect(r).toMatchObject({ ok: true, entries: 6 }); // init wrote the first entry
  });

  it('names the entry that was changed', () => {
    t.hub.storage.db.prepare(`UPDATE audit SET outcome = 'tampered' WHERE id = 4`).run();
    expect(t.hub.auditTrail.verify()).toMatchObject({
      ok: false,
      firstBad: 4,
      problem: expect.stringContaining('changed'),
    });
  });

  it('names the entry after one that was removed', () => {
    t.hub.storage.db.prepare(`DELETE FROM audit WHERE id = 3`).run();
    expect(t.hub.auditTrail.verify()).toMatchObject({ ok: false, firstBad: 4 });
  });

  it('catches a rewritten entry whose hash was recomputed, at the next link', () => {
    const e = t.hub.storage.db.prepare(`SELECT * FROM audit WHERE id = 2`).get() as Record<string, unknown>;
    t.hub.storage.db.prepare(`UPDATE audit SET actor = 'someone-else' WHERE id = 2`).run();
    // recompute entry 2's own hash as a careful forger would
    const changed = { ...e, actor: 'someone-else' } as Parameters<typeof entryHash>[0] & { hash?: string };
    delete changed.hash;
    t.hub.storage.db.prepare(`UPDATE audit SET hash = ? WHERE id = 2`).run(entryHash(changed));
    expect(t.hub.auditTrail.verify()).toMatchObject({ ok: false, firstBad: 3 });
  });

  it(
    'text that is not well-formed (a lone surrogate, which JSON and the wire allow) is written as U+FFFD, hashed as ' +
      'written: the chain still verifies',
    () => {
      const odd = (s: string): string => `${s}\ud800-\udfff`;
      const input = (i: number) => ({
        actor: odd('agent:'),
        action: odd('return.'),
        outcome: odd('ok'),
        store: odd('S'),
        register: odd('R'),
        resource: odd(`receipt:${i}`),
        origin: odd('ip:'),
        details: { note: odd('n') },
      });
      t.hub.audit.append(input(1));
      t.hub.storage.tx(() => t.hub.audit.appendMany([input(2), input(3)]));
      const rows = t.hub.storage.db.prepare(`SELECT * FROM audit WHERE id > 6 ORDER BY id`).all() as Record<
        string,
        string
      >[];
      expect(rows.map((r) => [r.actor, r.register, r.resource, r.origin])).toEqual(
        [1, 2, 3].map((i) => [
          'agent:\ufffd-\ufffd',
          'R\ufffd-\ufffd',
          `receipt:${i}\ufffd-\ufffd`,
          'ip:\ufffd-\ufffd',
        ]),
      );
      expect(JSON.parse(rows[0]?.details ?? '')).toEqual({ note: 'n\ud800-\udfff' }); // JSON keeps it, escaped
      expect(t.hub.auditTrail.verify()).toMatchObject({ ok: true, entries: 9 });
    },
  );

  it('catches reordering', () => {
    const db = t.hub.storage.db;
    db.prepare(`UPDATE audit SET id = 100 WHERE id = 2`).run();
    db.prepare(`UPDATE audit SET id = 2 WHERE id = 3`).run();
    db.prepare(`UPDATE audit SET id = 3 WHERE id = 100`).run();
    expect(t.hub.auditTrail.verify()).toMatchObject({ ok: false, firstBad: 2 });
  });
});
