import { expect, it } from 'vitest';
import { hubForEachTest } from './helpers.js';

/** A signed checkpoint on the chain's very last entry (a checkpoint just made, nothing appended since). */
const t = hubForEachTest();

it('verifies a chain whose head is the entry the latest checkpoint vouches for', () => {
  const cp = t.hub.auditTrail.checkpoints.create('test');
  const head = t.hub.storage.db.prepare('SELECT MAX(id) AS id FROM audit').get() as { id: number };
  expect(cp?.id).toBe(head.id);
  expect(t.hub.auditTrail.verify()).toMatchObject({ ok: true, entries: head.id, checkpoints: 1 });
  t.hub.storage.tx(() => t.hub.audit.append({ actor: 'test', action: 'test.after', outcome: 'ok', details: {} }));
  expect(t.hub.auditTrail.verify()).toMatchObject({ ok: true, entries: head.id + 1, checkpoints: 1 });
});
