import { describe, expect, it } from 'vitest';
import { ConsoleSessions, type SessionLimits } from '../src/console/sessions.js';
import type { Hub } from '../src/hub-services.js';
import { cleanupsAfterEach, column, hubEngines, twoHubProcesses } from './helpers.js';

/**
 * The console's sessions live in the hub's database (central/src/auth/console-session-rows.ts): a cookie made at one
 * hub process works at another on the same database, and ends everywhere at once. As many-processes.test.ts does,
 * two `openHub` instances on one database: two connections to one SQLite file, or two data directories on one
 * PostgreSQL database.
 */

const engines = hubEngines('console-sessions.test.ts');

const cleanups = cleanupsAfterEach();

const LIMITS: SessionLimits = { lifetimeMs: 100_000, idleMs: 30_000 };

function sessionsOf(hub: Hub, limits = LIMITS): ConsoleSessions {
  return new ConsoleSessions(
    { rows: hub.consoleSessions, tokens: hub.credentials, now: () => hub.clock.now() },
    limits,
  );
}

for (const engine of engines) {
  describe(`console sessions on ${engine}`, () => {
    it('a session made at one hub process is used at another, and signing out at either ends it at both', () => {
      const { a, b } = twoHubProcesses(engine, cleanups);
      const token = a.credentials.createAdminToken('operator', 'night desk');
      const atA = sessionsOf(a);
      const atB = sessionsOf(b);
      const s = atA.create({ id: token.id, role: 'operator', name: 'night desk' });
      expect(s.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(atB.use(s.id)?.who).toEqual({ id: token.id, role: 'operator', name: 'night desk' });
      // the database holds a hash of the cookie's value, never the value
      const held = column(a.storage.db, 'SELECT id_hash FROM console_sessions');
      expect(held).toHaveLength(1);
      expect(held[0]).toMatch(/^[0-9a-f]{64}$/);
      expect(held).not.toContain(s.id);

      atB.end(s.id);
      expect(atA.use(s.id)).toBeUndefined();
      expect(atA.size()).toBe(0);
    });

    it('ends after its lifetime, or unused for its idle time, by the hub clock; kept alive by use anywhere', () => {
      const { a, b, clock } = twoHubProcesses(engine, cleanups);
      const token = a.credentials.createAdminToken('operator', 'desk');
      const atA = sessionsOf(a);
      const atB = sessionsOf(b);
      const who = { id: token.id, role: 'operator' as const, name: 'desk' };
      const s = atA.create(who);
      expect(atA.create(who).id).not.toBe(s.id);
      // used every 20 s, alternately at each process: alive until the 100 s lifetime, whatever the idle time (30 s)
      for (let t = 20_000; t < 100_000; t += 20_000) {
        clock.advance(20_000);
        expect((t / 20_000) % 2 === 0 ? atA.use(s.id) : atB.use(s.id)).toBeDefined();
      }
      clock.advance(20_000);
      expect(atB.use(s.id)).toBeUndefined(); // 100 s since sign-in
      const idle = atA.create(who);
      clock.advance(29_000);
      expect(atB.use(idle.id)).toBeDefined();
      clock.advance(30_000);
      expect(atA.use(idle.id)).toBeUndefined(); // 30 s unused
      expect(atA.use('no-such-session')).toBeUndefined();
      expect(atA.use(undefined)).toBeUndefined();
      expect(atA.use('')).toBeUndefined();
    });

    it('ends when the token it was made with is revoked, at every process', () => {
      const { a, b } = twoHubProcesses(engine, cleanups);
      const token = a.credentials.createAdminToken('operator', 'temp');
      const s = sessionsOf(a).create({ id: token.id, role: 'operator', name: 'temp' });
      expect(sessionsOf(b).use(s.id)).toBeDefined();
      b.credentials.revokeAdminToken(token.id);
      expect(sessionsOf(a).use(s.id)).toBeUndefined();
      expect(sessionsOf(a).size()).toBe(0); // and forgotten
    });

    it('the sweep forgets every expired session, whichever process made it', () => {
      const { a, b, clock } = twoHubProcesses(engine, cleanups);
      const token = a.credentials.createAdminToken('operator', 'desk');
      const who = { id: token.id, role: 'operator' as const, name: 'desk' };
      sessionsOf(a).create(who);
      sessionsOf(b).create(who);
      clock.advance(10_000);
      const kept = sessionsOf(b).create(who);
      clock.advance(25_000); // the first two unused for 35 s, the last for 25 s
      sessionsOf(a).sweep();
      expect(sessionsOf(b).size()).toBe(1);
      expect(sessionsOf(b).use(kept.id)).toBeDefined();
    });
  });
}
