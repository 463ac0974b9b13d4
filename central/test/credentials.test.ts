import { describe, expect, it } from 'vitest';
import { credentialId, newCredential } from '../src/auth/secrets.js';
import { hubForEachTest } from './helpers.js';

const t = hubForEachTest({ S1: 'S1', S2: 'S2' });

describe('credentials', () => {
  it('makes keys with a checksum that catches typos', () => {
    const c = newCredential('tbk');
    expect(c.secret).toMatch(/^tbk_[0-9a-z]{40}_[0-9a-z]{6}$/);
    expect(credentialId(c.secret, 'tbk')).toBe(c.id);
    const typo = c.secret.slice(0, 10) + (c.secret[10] === 'a' ? 'b' : 'a') + c.secret.slice(11);
    expect(credentialId(typo, 'tbk')).toBeUndefined();
  });

  it('stores API keys hashed and binds them to their store', () => {
    const key = t.hub.credentials.createApiKey('S1');
    expect(t.hub.credentials.checkApiKey('S1', key)).toMatchObject({
      store: 'S1',
      keyId: expect.stringMatching(/^tbk_/),
    });
    expect(() => t.hub.credentials.checkApiKey('S2', key)).toThrow(/unknown store or API key/);
    const stored = t.hub.storage.db.prepare('SELECT hash FROM api_keys').all() as { hash: string }[];
    expect(JSON.stringify(stored)).not.toContain(key.slice(4, 30));
  });

  it('checks admin tokens and roles', () => {
    const tok = t.hub.credentials.createAdminToken('operator', 'ops').secret;
    expect(t.hub.credentials.checkAdminToken(tok)).toMatchObject({ role: 'operator', name: 'ops' });
    const other = tok.slice(0, -1) + (tok.endsWith('0') ? '1' : '0');
    expect(() => t.hub.credentials.checkAdminToken(other)).toThrow();
  });

  it('refuses to revoke the last active admin-role token (TB_LAST_ADMIN); operator tokens do not count', () => {
    const c = t.hub.credentials;
    const initial = c.listAdminTokens().find((x) => x.role === 'admin')!;
    const op = c.createAdminToken('operator', 'dashboard');
    expect(() => c.revokeAdminToken(initial.id)).toThrow(
      expect.objectContaining({
        code: 'TB_LAST_ADMIN',
        message: expect.stringContaining(`${initial.id} is the last active admin token`),
      }),
    );
    expect(c.listAdminTokens().find((x) => x.id === initial.id)?.revokedAt).toBeNull();
    c.revokeAdminToken(op.id); // an operator token goes whenever
    const second = c.createAdminToken('admin', 'second');
    c.revokeAdminToken(initial.id); // another admin remains
    expect(() => c.revokeAdminToken(second.id)).toThrow(expect.objectContaining({ code: 'TB_LAST_ADMIN' }));
    expect(() => c.revokeAdminToken(initial.id)).toThrow(expect.objectContaining({ code: 'TB_NOT_FOUND' }));
    expect(c.checkAdminToken(second.secret)).toMatchObject({ role: 'admin' });
  });

  it('issues access tokens bound to a store that expire', async () => {
    const token = await t.hub.tokens.issue('S1', 'tbk_abc');
    expect(await t.hub.tokens.verify(token)).toMatchObject({ store: 'S1', kid: 'tbk_abc' });
    t.clock.advance(901_000);
    await expect(t.hub.tokens.verify(token)).rejects.toThrow(/expired/);
  });
});

describe('API key rotation', () => {
  it('rotates: the new key works at once and waits for the agent; the old one works until the grace ends', () => {
    const first = t.hub.credentials.createApiKey('S1');
    const oldId = t.hub.credentials.checkApiKey('S1', first).keyId;
    t.clock.advance(1000);
    const r = t.hub.keys.rotate('S1', 3_600_000, 'admin:test');
    const pending = t.hub.credentials.pendingKey('S1')!;
    expect(pending.id).toBe(r.id);
    expect(t.hub.credentials.checkApiKey('S1', pending.secret).keyId).toBe(r.id);
    expect(t.hub.credentials.checkApiKey('S1', first).keyId).toBe(oldId);
    expect(t.hub.credentials.listKeys('S1').map((k) => k.state)).toEqual(['expiring', 'pending']);
    // a second rotation during the grace period, or a third working key, is refused
    expect(() => t.hub.keys.rotate('S1', 1000, 'admin:test')).toThrow(/grace period/);
    // the agent confirms: the hub forgets the new key's text
    expect(t.hub.credentials.confirm('S1', r.id)).toBe(true);
    expect(t.hub.credentials.pendingKey('S1')).toBeUndefined();
    // the grace ends: the old key stops working, its tokens with it
    t.clock.advance(3_600_001);
    expect(() => t.hub.credentials.checkApiKey('S1', first)).toThrow(/unknown store or API key/);
    expect(t.hub.credentials.keyWorks('S1', oldId)).toBe(false);
    expect(t.hub.credentials.listKeys('S1').map((k) => k.state)).toEqual(['expired', 'active']);
    // revocation ends a key at once
    t.hub.keys.revoke('S1', r.id, 'admin:test');
    expect(() => t.hub.credentials.checkApiKey('S1', pending.secret)).toThrow();
    const stored = JSON.stringify(t.hub.storage.db.prepare('SELECT * FROM api_keys').all());
    expect(stored).not.toContain(pending.secret.slice(4, 30));
    expect(
      t.hub.audit
        .tail(10)
        .map((e) => e.action)
        .filter((a) => a.startsWith('key.')),
    ).toEqual(['key.rotate', 'key.revoke']);
  });

  it(
    'a rotation supersedes a key its agent never confirmed: the newer key is delivered, the older one forgotten ' +
      '(an ack for it refused)',
    () => {
      const c = t.hub.credentials;
      const firstId = c.checkApiKey('S1', c.createApiKey('S1')).keyId;
      t.clock.advance(1000);
      const k1 = t.hub.keys.rotate('S1', 3_600_000, 'admin:test');
      expect(c.pendingKey('S1')?.id).toBe(k1.id); // the agent stores it, and crashes before saying so
      t.hub.keys.revoke('S1', firstId, 'admin:test'); // the old key leaked
      t.clock.advance(1000);
      const k2 = t.hub.keys.rotate('S1', 3_600_000, 'admin:test');
      expect(c.pendingKey('S1')?.id).toBe(k2.id);
      expect(c.listKeys('S1').map((k) => [k.id, k.state])).toEqual([
        [firstId, 'revoked'],
        [k1.id, 'expiring'],
        [k2.id, 'pending'],
      ]);
      expect(c.confirm('S1', k1.id)).toBe(false);
      const stored = JSON.stringify(t.hub.storage.db.prepare('SELECT * FROM api_keys').all());
      expect(stored).not.toContain(k1.secret.slice(4, 30));
      expect(c.confirm('S1', k2.id)).toBe(true);
      t.clock.advance(3_600_001); // k1's grace ends: the agent holds k2, which works
      expect(c.keyWorks('S1', k2.id)).toBe(true);
    },
  );

  it('a rotation whose new key leaked (revoked) may be followed by another at once; the old key keeps its end', () => {
    const c = t.hub.credentials;
    const oldId = c.checkApiKey('S1', c.createApiKey('S1')).keyId;
    t.clock.advance(1000);
    const leaked = t.hub.keys.rotate('S1', 3_600_000, 'admin:test');
    t.hub.keys.revoke('S1', leaked.id, 'admin:test');
    // only the ending key works: without another rotation the store would be cut off when its grace ends
    t.clock.advance(1000);
    const next = t.hub.keys.rotate('S1', 7_200_000, 'admin:test');
    expect(next.oldExpireAt).toBe(leaked.oldExpireAt); // not extended by the longer grace
    expect(c.pendingKey('S1')?.id).toBe(next.id);
    expect(c.listKeys('S1').map((k) => [k.id, k.state])).toEqual([
      [oldId, 'expiring'],
      [leaked.id, 'revoked'],
      [next.id, 'pending'],
    ]);
    // its grace is that rotation's: a third is refused until it ends
    expect(() => t.hub.keys.rotate('S1', 1000, 'admin:test')).toThrow(/grace period/);
    t.clock.advance(3_600_000);
    expect(c.keyWorks('S1', oldId)).toBe(false);
    expect(c.keyWorks('S1', next.id)).toBe(true);
  });

  it('refuses a grace over a year or a schedule over ten years (the dates they make would not compare)', () => {
    t.hub.credentials.createApiKey('S1');
    const refused = (fn: () => unknown): unknown => {
      try {
        fn();
        return 'accepted';
      } catch (err) {
        return { code: (err as { code?: string }).code, message: (err as Error).message };
      }
    };
    const grace = { code: 'TB_INVALID', message: '--grace: expected from 0 to 365d' };
    const every = { code: 'TB_INVALID', message: '--every: expected from 1m to 3650d' };
    expect(refused(() => t.hub.keys.rotate('S1', 365 * 86_400_000 + 1, 'admin:test'))).toEqual(grace);
    expect(refused(() => t.hub.keys.rotate('S1', 2.5e14, 'admin:test'))).toEqual(grace);
    expect(refused(() => t.hub.keys.schedule('S1', 3650 * 86_400_000 + 1, 86_400_000, 'admin:test'))).toEqual(every);
    expect(refused(() => t.hub.keys.schedule('S1', 30 * 86_400_000, 1e16, 'admin:test'))).toEqual(grace);
    expect(refused(() => t.hub.keys.schedule('S1', 59_999, 0, 'admin:test'))).toEqual(every);
    expect(t.hub.keys.scheduleOf('S1')).toBeUndefined();
    expect(t.hub.credentials.listKeys('S1').map((k) => k.state)).toEqual(['active']);
    expect(t.hub.keys.rotate('S1', 365 * 86_400_000, 'admin:test').oldExpireAt).toBe('2027-11-27T10:00:00.000Z');
  });

  it('runs scheduled rotations when they are due', () => {
    t.hub.credentials.createApiKey('S2');
    t.clock.advance(1000);
    t.hub.keys.schedule('S2', 86_400_000, 3_600_000, 'admin:test');
    expect(t.hub.keys.runDue()).toBe(0);
    t.clock.advance(86_400_001);
    expect(t.hub.keys.runDue()).toBe(1);
    expect(t.hub.credentials.listKeys('S2').map((k) => k.state)).toEqual(['expiring', 'pending']);
    expect(() => t.hub.keys.schedule('S2', 1000, 10, 'admin:test')).toThrow(/--every: expected from 1m to 3650d/);
  });
});
