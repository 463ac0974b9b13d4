import { copyFileSync, existsSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { type Hub } from '../src/hub-services.js';
import { loadSecrets } from '../src/auth/secrets.js';
import { signingKeyPath } from '../src/audit/signing-key.js';
import { DEFAULT_GATE } from '../src/auth/gate.js';
import { Webhooks } from '../src/webhooks/webhooks.js';
import type { SendResult, WebhookSender } from '../src/webhooks/http-sender.js';
import {
  cleanupsAfterEach,
  hubEngines,
  column,
  poisonSalesInsert,
  scalar,
  silent,
  twoHubProcesses,
  wireSale,
  type HubPair,
} from './helpers.js';

/**
 * Several hub processes on one database (Tillbridge issue 10), as two `openHub` instances in this
 * test process — each with its own connection, gate, audit trail and webhook dispatcher. On
 * PostgreSQL they are two data directories (hub.secret copied) on one database, as two `serve`
 * processes are; on SQLite two connections to one file (what one process and a CLI beside it do).
 */

const engines = hubEngines('many-processes.test.ts');

const cleanups = cleanupsAfterEach();

/** A webhook dispatcher of its own on `hub` (as each hub process runs one), sending through `send`. */
function dispatcherOn(hub: Hub, dir: string, send: WebhookSender, leaseMs = 60_000): Webhooks {
  const wh = new Webhooks({
    storage: hub.storage,
    audit: hub.audit,
    clock: hub.clock,
    log: silent,
    sealKey: loadSecrets(dir).webhookKey,
    send,
    leaseMs,
    random: () => 0.5,
  });
  cleanups.push(() => wh.stop());
  return wh;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

for (const engine of engines) {
  describe(`several hub processes on one ${engine} database`, () => {
    /** Each test's two hub processes on the one database, opened before it and closed after it. */
    let p: HubPair;
    beforeEach(() => {
      p = twoHubProcesses(engine, cleanups);
    });

    it('webhook deliveries: both dispatchers running, each of N due deliveries is attempted exactly once', async () => {
      const sent: { by: string; endpoint: string; id: string }[] = [];
      let inFlight = new Map<string, string>();
      const sender =
        (by: string): WebhookSender =>
        async (req): Promise<SendResult> => {
          // one attempt in flight per endpoint, whichever process makes it
          expect(inFlight.get(req.url)).toBeUndefined();
          inFlight.set(req.url, by);
          await tick();
          await tick();
          inFlight.delete(req.url);
          sent.push({ by, endpoint: req.url, id: req.headers['webhook-id']! });
          return { status: 200 };
        };
      const whA = dispatcherOn(p.a, p.dirA, sender('A'));
      const whB = dispatcherOn(p.b, p.dirB, sender('B'));
      // three endpoints on each of two event types
      const endpoints = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6'].map(
        (e, i) =>
          whA.add(
            { url: `https://erp.example/${e}`, events: [i < 3 ? 'return.completed' : 'return.exception'] },
            'admin:test',
          ).id,
      );
      const emit = (type: 'return.completed' | 'return.exception'): void => {
        // half the events come through one process, half through the other
        for (let i = 0; i < 20; i++)
          (i % 2 ? p.a : p.b).storage.tx(() =>
            (i % 2 ? whA : whB).emit({ type, store: 'S1', data: { authorization: `a-${i}` } }),
          );
      };
      const total = 20 * endpoints.length;
      emit('return.completed');
      // A's loop starts on what is due (e1..e3); more becomes due (e4..e6) while A's attempts are
      // in flight, and B's loop starts: each loop takes what the other does not hold
      const runA = whA.runDue();
      emit('return.exception');
      const runB = whB.runDue();
      await tick();
      const runA2 = whA.runDue();
      await Promise.all([runA, runB, runA2]);
      for (let pass = 0; pass < 10 && sent.length < total; pass++) await Promise.all([whA.runDue(), whB.runDue()]);
      expect(Number(scalar(p.a.storage.db, `SELECT COUNT(*) FROM webhook_deliveries`))).toBe(total);
      expect(sent).toHaveLength(total);
      expect(new Set(sent.map((s) => `${s.endpoint} ${s.id}`)).size).toBe(total); // none twice
      expect(new Set(sent.map((s) => s.by))).toEqual(new Set(['A', 'B'])); // both took part
      const rows = p.b.storage.db
        .prepare(`SELECT state, attempts, leased_by, lease_until FROM webhook_deliveries`)
        .all() as { state: string; attempts: number; leased_by: string | null; lease_until: string | null }[];
      expect(
        rows.every(
          (r) => r.state === 'succeeded' && r.attempts === 1 && r.leased_by === null && r.lease_until === null,
        ),
      ).toBe(true);
      inFlight = new Map();
    });

    it(
      'webhook deliveries: a process that dies mid-attempt leaves a lease; the delivery is due again once it runs ' +
        'out, and the late attempt records nothing',
      async () => {
        const LEASE = 45_000;
        let release: (r: SendResult) => void = () => undefined;
        const byA: string[] = [];
        const byB: string[] = [];
        const whA = dispatcherOn(
          p.a,
          p.dirA,
          (req) => {
            byA.push(req.headers['webhook-id']!);
            return new Promise<SendResult>((r) => (release = r)); // hangs: the process "dies" here
          },
          LEASE,
        );
        const whB = dispatcherOn(
          p.b,
          p.dirB,
          (req) => {
            byB.push(req.headers['webhook-id']!);
            return Promise.resolve({ status: 204 });
          },
          LEASE,
        );
        whA.add({ url: 'https://erp.example/hook', events: ['return.completed'] }, 'admin:test');
        p.a.storage.tx(() => whA.emit({ type: 'return.completed', store: 'S1', data: { authorization: 'a-1' } }));
        const stuck = whA.runDue();
        await tick();
        expect(byA).toHaveLength(1);
        const row = () =>
          p.b.storage.db
            .prepare(`SELECT state, attempts, leased_by, lease_until, last_status FROM webhook_deliveries`)
            .get() as {
            state: string;
            attempts: number;
            leased_by: string | null;
            lease_until: string | null;
            last_status: number | null;
          };
        expect(row()).toMatchObject({ state: 'pending', attempts: 0, leased_by: expect.stringMatching(/^hp_/) });

        // while A's lease lasts, B leaves the delivery alone
        expect(await whB.runDue()).toBe(0);
        p.clock.advance(LEASE - 1);
        expect(await whB.runDue()).toBe(0);
        // the lease runs out: due again, and B delivers it (the same webhook-id: receivers dedupe by it)
        p.clock.advance(1);
        expect(await whB.runDue()).toBe(1);
        expect(byB).toEqual(byA);
        expect(row()).toMatchObject({
          state: 'succeeded',
          attempts: 1,
          leased_by: null,
          lease_until: null,
          last_status: 204,
        });

        // A's attempt comes back at last, failed: it does not record over B's result
        const reports: unknown[] = [];
        whA.onAttempt((r) => reports.push(r));
        release({ status: 500 });
        expect(await stuck).toBe(1);
        expect(reports).toEqual([]);
        expect(row()).toMatchObject({ state: 'succeeded', attempts: 1, last_status: 204 });
        expect(await whA.runDue()).toBe(0);
      },
    );

    it('a dispatcher stopping mid-attempt gives its lease back: another process delivers at once', async () => {
      const byB: string[] = [];
      const whA = new Webhooks({
        storage: p.a.storage,
        audit: p.a.audit,
        clock: p.clock,
        log: silent,
        sealKey: loadSecrets(p.dirA).webhookKey,
        drainMs: 1,
        send: (req) =>
          new Promise<SendResult>((r) =>
            req.signal.addEventListener('abort', () => r({ aborted: true, error: 'aborted' })),
          ),
      });
      const whB = dispatcherOn(p.b, p.dirB, (req) => {
        byB.push(req.headers['webhook-id']!);
        return Promise.resolve({ status: 200 });
      });
      whA.add({ url: 'https://erp.example/hook', events: ['return.completed'] }, 'admin:test');
      p.a.storage.tx(() => whA.emit({ type: 'return.completed', store: 'S1', data: {} }));
      whA.start();
      await tick();
      await tick();
      expect(await whB.runDue()).toBe(0);
      await whA.stop();
      expect(await whB.runDue()).toBe(1); // no wait for the lease to run out
      expect(byB).toHaveLength(1);
    });

    it('token requests split across two processes hit one limit; failed logins add up to one block', () => {
      const ask = (hub: Hub, store: string): number => {
        const wait = hub.gate.tokenWait('198.51.100.7', store);
        if (wait === 0) hub.gate.tokenIssued(store);
        return wait;
      };
      const refill = DEFAULT_GATE.tokenPeriodMs / DEFAULT_GATE.tokenBurst;
      const answers = Array.from({ length: DEFAULT_GATE.tokenBurst + 4 }, (_, i) => ask(i % 2 ? p.a : p.b, 'S1'));
      // one allowance, not one per process
      expect(answers.filter((w) => w === 0)).toHaveLength(DEFAULT_GATE.tokenBurst);
      expect(answers.slice(DEFAULT_GATE.tokenBurst)).toEqual(Array(4).fill(refill));
      // refused on both, audited once (a minute) for both
      expect(column(p.a.storage.db, `SELECT store FROM audit WHERE action = 'auth.rate_limited'`)).toEqual(['S1']);
      p.clock.advance(refill);
      expect(ask(p.b, 'S1')).toBe(0);
      expect(ask(p.a, 'S1')).toBe(refill);

      // maxFailures failed logins, half through each process: the source is blocked on both
      const half = DEFAULT_GATE.maxFailures / 2;
      for (let i = 0; i < half; i++) p.a.gate.failed('203.0.113.9', 'token', {}, undefined, 'S2');
      expect(p.a.gate.blocked('203.0.113.9')).toBe(false);
      for (let i = 0; i < half; i++) p.b.gate.failed('203.0.113.9', 'token', {}, undefined, 'S2');
      expect(p.a.gate.blockedFor('203.0.113.9')).toBe(DEFAULT_GATE.blockMs);
      expect(p.b.gate.blockedFor('203.0.113.9')).toBe(DEFAULT_GATE.blockMs);
      // the key it guessed at, refused unchecked on either
      expect(p.a.gate.tokenWait('203.0.113.9', 'S2')).toBe(DEFAULT_GATE.blockMs);
      // refusals never extend the block, whichever process answers them
      p.clock.advance(DEFAULT_GATE.blockMs / 2);
      expect(p.b.gate.failed('203.0.113.9', 'token')).toBe(DEFAULT_GATE.blockMs / 2);
      p.clock.advance(DEFAULT_GATE.blockMs / 2);
      expect(p.a.gate.blocked('203.0.113.9')).toBe(false);
      expect(column(p.a.storage.db, `SELECT action FROM audit WHERE action = 'auth.blocked'`)).toHaveLength(1);
    });

    it(
      'audit checkpoints: two processes nudged at the 1000th entry make one checkpoint; ' +
        'each signs with the one key',
      async () => {
        const append = (hub: Hub, n: number): void =>
          hub.storage.tx(() => {
            for (let i = 0; i < n; i++)
              hub.audit.append({ actor: 'store:S1', action: 'sale', outcome: 'applied', store: 'S1' });
          });
        const head = (): number => Number(scalar(p.a.storage.db, `SELECT MAX(id) FROM audit`));
        append(p.a, 1000 - head() - 1);
        append(p.b, 1); // the 1000th entry
        expect(head()).toBe(1000);
        p.a.auditTrail.nudge();
        p.b.auditTrail.nudge();
        await tick();
        expect(p.a.auditTrail.checkpoints.list().map((c) => [c.seq, c.id])).toEqual([[1, 1000]]);
        // the hub timers of both (the daily check) find it done too
        p.a.auditTrail.runDue();
        p.b.auditTrail.runDue();
        expect(p.b.auditTrail.checkpoints.list()).toHaveLength(1);

        append(p.b, 1000);
        if (p.dirB !== p.dirA) {
          // B's data directory has no copy of the signing key: it refuses to sign (and makes no key of its own)
          expect(() => p.b.auditTrail.checkpoints.maybeCheckpoint()).toThrow(/audit-signing-key\.pem/);
          expect(existsSync(signingKeyPath(p.dirB))).toBe(false);
          copyFileSync(signingKeyPath(p.dirA), signingKeyPath(p.dirB));
        }
        const c2 = p.b.auditTrail.checkpoints.maybeCheckpoint()!;
        expect(c2).toMatchObject({ seq: 2, id: 2000 });
        expect(c2.fingerprint).toBe(p.a.auditTrail.checkpoints.latest()!.fingerprint);
        expect(p.a.auditTrail.checkpoints.maybeCheckpoint()).toBeUndefined();
        expect(p.a.auditTrail.verify(), JSON.stringify(p.a.auditTrail.verify())).toMatchObject({ ok: true });
        expect(p.b.auditTrail.verify()).toMatchObject({ ok: true });
      },
    );

    it('audit retention: the daily run happens in one process; a run in progress elsewhere is left alone', () => {
      p.a.storage.tx(() => {
        for (let i = 0; i < 1500; i++)
          p.a.audit.append({ actor: 'store:S1', action: 'sale', outcome: 'applied', store: 'S1' });
      });
      p.a.auditTrail.checkpoints.create();
      p.clock.advance(500 * 86_400_000);
      p.a.storage.tx(() => p.a.audit.append({ actor: 'admin:x', action: 'noop', outcome: 'ok' }));
      const ra = p.a.auditTrail.retention.runDue();
      const rb = p.b.auditTrail.retention.runDue();
      expect(ra).toMatchObject({ through: 1501 });
      expect(rb).toBeUndefined();
      expect(column(p.a.storage.db, `SELECT action FROM audit WHERE action = 'audit.prune'`)).toHaveLength(1);

      // a run holding the lease (a process pruning now): another prunes nothing meanwhile
      p.b.storage.tx(() => {
        for (let i = 0; i < 10; i++)
          p.b.audit.append({ actor: 'store:S1', action: 'sale', outcome: 'applied', store: 'S1' });
      });
      p.a.auditTrail.checkpoints.create();
      p.clock.advance(500 * 86_400_000);
      p.a.storage.db
        .prepare(`INSERT INTO meta (key, value) VALUES ('audit_retention_lease', ?)`)
        .run(`retention:other ${new Date(p.clock.now() + 60_000).toISOString()}`);
      expect(p.b.auditTrail.retention.pruneOlderThan(400)).toMatchObject({ removed: 0, through: null });
      p.clock.advance(60_000); // the lease ran out (its process died): prunable again
      expect(p.b.auditTrail.retention.pruneOlderThan(400).removed).toBeGreaterThan(0);
    });

    it(
      'an event failing unexpectedly is set aside after 5 attempts in all, ' +
        'whichever processes its batches reached',
      () => {
        p.a.stores.create('S1', 'S1');
        poisonSalesInsert(p.a.storage.db, p.a.storage.engine);
        const batch = [wireSale(1, 'ok-1', 'OK1'), wireSale(2, 'poison-1', 'POISON')];
        for (let i = 0; i < 4; i++)
          expect(() => (i % 2 ? p.a : p.b).applier.applyBatch('S1', 'agent-a', 'i1', batch)).toThrow(/disk error/);
        expect(scalar(p.a.storage.db, `SELECT attempts FROM event_attempts WHERE event_id = 'poison-1'`)).toBe(4);
        const r = p.b.applier.applyBatch('S1', 'agent-a', 'i1', batch);
        expect(r.results.map((x) => x.code ?? x.outcome)).toEqual(['applied', 'internal_error']);
        expect(scalar(p.a.storage.db, `SELECT COUNT(*) FROM event_attempts`)).toBe(0);
      },
    );
  });
}

if (!engines.includes('postgres')) {
  describe.skip('several hub processes on one PostgreSQL database (no server: the warning above says why)', () => {
    it('skipped', () => undefined);
  });
}
