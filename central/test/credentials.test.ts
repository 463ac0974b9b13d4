import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { credentialId, newCredential } from '../src/auth/secrets.js';
import { parseInventoryCsv } from '../src/http/admin-api.js';
import { testHub } from './helpers.js';

let t: ReturnType<typeof testHub>;
beforeEach(() => {
  t = testHub();
  t.hub.stores.create('S1', 'S1');
  t.hub.stores.create('S2', 'S2');
});
afterEach(() => t.cleanup());

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
    expect(t.hub.credentials.checkApiKey('S1', key)).toBe('S1');
    expect(() => t.hub.credentials.checkApiKey('S2', key)).toThrow(/unknown store or API key/);
    const stored = t.hub.storage.db.prepare('SELECT hash FROM api_keys').all() as { hash: string }[];
    expect(JSON.stringify(stored)).not.toContain(key.slice(4, 30));
  });

  it('checks admin tokens and roles', () => {
    const tok = t.hub.credentials.createAdminToken('operator', 'ops');
    expect(t.hub.credentials.checkAdminToken(tok)).toMatchObject({ role: 'operator', name: 'ops' });
    const other = tok.slice(0, -1) + (tok.endsWith('0') ? '1' : '0');
    expect(() => t.hub.credentials.checkAdminToken(other)).toThrow();
  });

  it('issues access tokens bound to a store that expire', async () => {
    const token = await t.hub.tokens.issue('S1');
    expect(await t.hub.tokens.verify(token)).toMatchObject({ store: 'S1' });
    t.clock.advance(901_000);
    await expect(t.hub.tokens.verify(token)).rejects.toThrow(/expired/);
  });
});

describe('inventory CSV', () => {
  const exists = (s: string) => s === 'S1';
  it('parses store,sku,qty with any column order, BOM and CRLF', () => {
    expect(parseInventoryCsv('\uFEFFsku,store,qty\r\nA,S1,3\r\nB,S1,0.5\r\n', exists)).toEqual([
      { store: 'S1', sku: 'A', qty: 3 },
      { store: 'S1', sku: 'B', qty: 0.5 },
    ]);
  });
  it('names the row and column of the first problem', () => {
    expect(() => parseInventoryCsv('store,sku,qty\nS1,A,3\nS9,B,1\n', exists)).toThrow(/row 3, column store/);
    expect(() => parseInventoryCsv('store,sku,qty\nS1,A,-1\n', exists)).toThrow(/row 2, column qty/);
    expect(() => parseInventoryCsv('store,sku\nS1,A\n', exists)).toThrow(/missing "qty"/);
  });
});
