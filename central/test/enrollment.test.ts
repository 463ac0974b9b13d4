import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testBackend, type TestDatabase } from '@tillbridge/scripts/lib/pg-test-db';
import { formatCode, hashCode, newEnrollmentCode, normalizeCode } from '../src/enrollment/code.js';
import { CODE_REFUSED } from '../src/enrollment/enrollments.js';
import { initHub, startHub, type RunningHub } from '../src/hub.js';
import { writeDevCerts } from '../src/tls/dev-certs.js';
import { column, scalar, silent, TestClock, testHub } from './helpers.js';

// Enrollment codes on the hub's real storage (SQLite, or PostgreSQL with TILLBRIDGE_TEST_BACKEND=postgres),
// then over a real HTTPS server: the admin route, the unauthenticated POST /v1/enroll, the gate.

const HOUR = 3_600_000;

describe('enrollment codes: their format', () => {
  it(
    'are 4 groups of 4 Crockford base32 characters (80 random bits), ' +
      'typed back in any case, with or without dashes',
    () => {
      const seen = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const c = newEnrollmentCode();
        expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
        seen.add(c);
      }
      expect(seen.size).toBe(200);
      expect(normalizeCode('7kq2m9xd4htrz1wb')).toBe('7KQ2M9XD4HTRZ1WB');
      expect(normalizeCode(' 7KQ2-M9XD 4HTR-Z1WB ')).toBe('7KQ2M9XD4HTRZ1WB');
      // Crockford's readings of look-alikes: O is 0, I and L are 1
      expect(normalizeCode('OKQ2-M9XD-4HTR-ZIWL')).toBe('0KQ2M9XD4HTRZ1W1');
      expect(normalizeCode('7KQ2-M9XD-4HTR-Z1W')).toBeUndefined(); // too short
      expect(normalizeCode('7KQ2-M9XD-4HTR-Z1WU')).toBeUndefined(); // U is not in the alphabet
      expect(formatCode('7KQ2M9XD4HTRZ1WB')).toBe('7KQ2-M9XD-4HTR-Z1WB');
    },
  );
});

describe('enrollment codes: made, used once, expiring, audited', () => {
  let t: ReturnType<typeof testHub>;
  let firstKey: string;
  beforeEach(() => {
    t = testHub();
    firstKey = t.hub.useCases.stores.create('admin:tba_x', 'S001', 'Main Street').apiKey;
  });
  afterEach(() => t.cleanup());

  const audit = (action: string): { details: Record<string, unknown>; store: string | null; actor: string }[] =>
    (
      t.hub.storage.db.prepare(`SELECT details, store, actor FROM audit WHERE action = ? ORDER BY id`).all(action) as {
        details: string | null;
        store: string | null;
        actor: string;
      }[]
    ).map((r) => ({ ...r, details: JSON.parse(r.details ?? '{}') as Record<string, unknown> }));

  it('a code gets the store a new key that works, and ends the keys it had; only a hash of the code is stored', () => {
    const uc = t.hub.useCases.enrollments;
    const c = uc.create('admin:tba_ops', 'S001', HOUR);
    expect(c.expiresAt).toBe('2026-11-27T11:00:00.000Z');
    const stored = t.hub.storage.db.prepare(`SELECT * FROM enrollment_codes`).all() as Record<string, unknown>[];
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain(normalizeCode(c.code));
    // keyed: not a plain hash anyone can make
    expect(stored[0]!.hash).not.toBe(hashCode(Buffer.alloc(32), normalizeCode(c.code)!));
    expect(stored[0]!.created_by).toBe('admin:tba_ops');

    t.clock.advance(10 * 60_000);
    const r = uc.use('10.0.0.5', c.code.toLowerCase().replace(/-/g, ''));
    expect(r.store).toBe('S001');
    expect(t.hub.credentials.checkApiKey('S001', r.apiKey).keyId).toBe(r.keyId);
    expect(() => t.hub.credentials.checkApiKey('S001', firstKey)).toThrow(
      expect.objectContaining({ code: 'TB_UNAUTHORIZED' }),
    );
    expect(
      t.hub.credentials
        .listKeys('S001')
        .map((k) => k.state)
        .sort(),
    ).toEqual(['active', 'revoked']);
    // not waiting to be delivered to the store's previous agent
    expect(t.hub.credentials.pendingKey('S001')).toBeUndefined();

    expect(audit('enrollment.create')).toEqual([
      expect.objectContaining({
        store: 'S001',
        actor: 'admin:tba_ops',
        details: expect.objectContaining({ ttlMs: HOUR }),
      }),
    ]);
    expect(audit('enrollment.use')).toEqual([
      expect.objectContaining({
        store: 'S001',
        actor: 'source:10.0.0.5',
        details: expect.objectContaining({ keyId: r.keyId, endedKeys: [expect.stringMatching(/^tbk_/)] }),
      }),
    ]);
    const row = t.hub.storage.db.prepare(`SELECT used_at, used_from, key_id FROM enrollment_codes`).get() as Record<
      string,
      unknown
    >;
    expect(row).toEqual({ used_at: '2026-11-27T10:10:00.000Z', used_from: '10.0.0.5', key_id: r.keyId });
    // the code's text is in no audit entry
    expect(column(t.hub.storage.db, `SELECT details FROM audit`).join(' ')).not.toContain(c.code);
  });

  it('a used, expired, unknown or malformed code gets one answer, and each is audited with its reason', () => {
    const uc = t.hub.useCases.enrollments;
    const used = uc.create('admin:a', 'S001', HOUR);
    uc.use('10.0.0.1', used.code);
    const late = uc.create('admin:a', 'S001', 2 * 60_000);
    t.clock.advance(2 * 60_000); // expires_at is exclusive: at that instant it no longer works
    const tries = [used.code, late.code, 'ZZZZ-ZZZZ-ZZZZ-ZZZZ', 'not a code', 42];
    const errors = tries.map((code) => {
      try {
        uc.use('10.0.0.2', code);
        return undefined;
      } catch (err) {
        return { code: (err as { code: string }).code, message: (err as Error).message };
      }
    });
    expect(errors).toEqual(tries.map(() => ({ code: 'TB_UNAUTHORIZED', message: CODE_REFUSED })));
    expect(audit('enrollment.refused').map((e) => e.details.reason)).toEqual([
      'already used',
      'expired',
      'unknown',
      'malformed',
      'malformed',
    ]);
    expect(audit('enrollment.refused').map((e) => e.store)).toEqual(['S001', 'S001', null, null, null]);
    expect(audit('enrollment.use')).toHaveLength(1);
    // one key was made, by the one use
    expect(t.hub.credentials.listKeys('S001')).toHaveLength(2);
  });

  it("a source past the gate's failure limit is answered 429 (TB_RATE_LIMITED)", () => {
    const uc = t.hub.useCases.enrollments;
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      try {
        uc.use('10.9.9.9', `AAAA-AAAA-AAAA-AA${String(i).padStart(2, '0')}`);
      } catch (err) {
        codes.push((err as { code: string }).code);
      }
    }
    // DEFAULT_GATE: 10 failures within 5 minutes block the source
    expect(codes).toEqual([...Array(9).fill('TB_UNAUTHORIZED'), 'TB_RATE_LIMITED']);
    expect(t.hub.gate.blocked('10.9.9.9')).toBe(true);
    expect(t.hub.gate.blocked('10.9.9.8')).toBe(false);
  });

  it('a code lives from 1 minute to 7 days; the listing shows pending codes, or every code of a store', () => {
    const uc = t.hub.useCases.enrollments;
    expect(() => uc.create('admin:a', 'S001', 59_999)).toThrow(
      expect.objectContaining({ code: 'TB_INVALID', message: expect.stringContaining('ttlMs') }),
    );
    expect(() => uc.create('admin:a', 'S001', 7 * 24 * HOUR + 1)).toThrow(
      expect.objectContaining({ code: 'TB_INVALID' }),
    );
    expect(() => uc.create('admin:a', 'S404', HOUR)).toThrow(expect.objectContaining({ code: 'TB_NOT_FOUND' }));
    const a = uc.create('admin:a', 'S001', HOUR);
    const b = uc.create('admin:a', 'S001', 2 * HOUR);
    uc.create('admin:a', 'S001', 60_000);
    uc.use('10.0.0.1', a.code);
    t.clock.advance(90_000);
    expect(uc.list().map((e) => [e.id, e.state])).toEqual([[b.id, 'pending']]);
    const byId = new Map(uc.list('S001').map((e) => [e.id, e.state]));
    expect(byId.size).toBe(3);
    expect([byId.get(a.id), byId.get(b.id)]).toEqual(['used', 'pending']);
    expect([...byId.values()].sort()).toEqual(['expired', 'pending', 'used']);
    expect(scalar(t.hub.storage.db, `SELECT COUNT(*) FROM enrollment_codes WHERE used_at IS NULL`)).toBe(2);
  });
});

describe('enrollment over HTTPS (a real hub server)', () => {
  let dir: string;
  let running: RunningHub;
  let admin: string;
  let operator: string;
  let ca: Buffer;
  let fingerprint: string;
  let db: TestDatabase | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tb-enroll-'));
    const certs = writeDevCerts(join(dir, 'certs'), ['127.0.0.1', 'localhost'], []);
    ca = readFileSync(certs.caCert);
    fingerprint = new X509Certificate(readFileSync(certs.serverCert)).fingerprint256;
    db = testBackend() === 'postgres' ? createTestDatabase() : undefined;
    const data = join(dir, 'hub');
    admin = initHub(data, silent, new TestClock(), db?.url).adminToken;
    running = await startHub({
      dataDir: data,
      database: db?.url,
      host: '127.0.0.1',
      port: 0,
      log: silent,
      clock: new TestClock(),
      tls: { certFile: certs.serverCert, keyFile: certs.serverKey },
    });
    running.hub.useCases.stores.create('admin:x', 'S001', 'S001');
    operator = running.hub.credentials.createAdminToken('operator', 'night shift').secret;
  });
  afterAll(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset if beforeAll failed first
    await running?.stop();
    db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: Record<string, unknown> }> =>
    new Promise((ok, fail) => {
      const text = body === undefined ? '' : JSON.stringify(body);
      const req = request(
        `${running.url}${path}`,
        {
          method,
          ca,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            ok({
              status: res.statusCode!,
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
            }),
          );
        },
      );
      req.on('error', fail);
      req.end(text);
    });

  it(
    'an admin token makes a code (with the certificate fingerprint); ' + 'an operator token may only list them',
    async () => {
      const refused = await call('POST', '/v1/admin/stores/S001/enrollments', {}, operator);
      expect(refused.status).toBe(403);
      const made = await call('POST', '/v1/admin/stores/S001/enrollments', { ttlMs: 30 * 60_000 }, admin);
      expect(made.status).toBe(200);
      expect(made.body).toEqual(
        expect.objectContaining({ store: 'S001', code: expect.stringMatching(/^[0-9A-Z]{4}-/), fingerprint }),
      );
      const listed = await call('GET', '/v1/admin/enrollments', undefined, operator);
      expect(listed.status).toBe(200);
      expect(JSON.stringify(listed.body)).not.toContain(made.body.code as string);
      const bad = await call('POST', '/v1/admin/stores/S001/enrollments', { ttlMs: '1h' }, admin);
      expect(bad.status).toBe(400);
    },
  );

  it(
    'POST /v1/enroll (no credential) answers the key, the wss:// URL and the fingerprint once; then one 401 for ' +
      'every bad code',
    async () => {
      const made = await call('POST', '/v1/admin/stores/S001/enrollments', {}, admin);
      const used = await call('POST', '/v1/enroll', { code: made.body.code });
      expect(used.status).toBe(200);
      expect(used.body).toEqual({
        store: 'S001',
        apiKey: expect.stringMatching(/^tbk_/),
        keyId: expect.stringMatching(/^tbk_/),
        hubUrl: `wss://127.0.0.1:${running.port}`,
        fingerprint,
      });
      const again = await call('POST', '/v1/enroll', { code: made.body.code });
      const unknown = await call('POST', '/v1/enroll', { code: 'ZZZZ-ZZZZ-ZZZZ-ZZZZ' });
      const none = await call('POST', '/v1/enroll', {});
      for (const r of [again, unknown, none]) {
        expect(r.status).toBe(401);
        expect(r.body).toEqual({ code: 'TB_UNAUTHORIZED', message: CODE_REFUSED });
      }
    },
  );

  it(
    'a blocked address is answered 429 even with a good code, ' + 'which still works from elsewhere afterwards',
    async () => {
      const made = await call('POST', '/v1/admin/stores/S001/enrollments', {}, admin);
      let last = 0;
      for (let i = 0; i < 12 && last !== 429; i++)
        last = (await call('POST', '/v1/enroll', { code: `AAAA-AAAA-AAAA-AA${String(i).padStart(2, '0')}` })).status;
      expect(last).toBe(429);
      const blocked = await call('POST', '/v1/enroll', { code: made.body.code });
      expect(blocked.status).toBe(429);
      // the code was not used by the refused request
      expect(running.hub.useCases.enrollments.list('S001').find((e) => e.id === made.body.id)?.state).toBe('pending');
    },
  );
});
