import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { sale, statusOf, World, worldForFile } from './fixture.js';

/** Access tokens live 3 s here, so refreshes, expiries and rotations happen within a test. */
const w = worldForFile({ hubArgs: ['--token-ttl', '3s'], stores: ['S1', 'S2', 'S3', 'S4', 'S5', 'S6'] });

const connected = async (a: AgentHandle): Promise<boolean> =>
  (await statusOf<{ hub: { connected: boolean } }>(a)).hub.connected;
const disconnects = (a: AgentHandle): number =>
  a.proc.lines.filter((l) => l.msg === 'disconnected from the hub').length;
const hubSales = (prefix: string): number => w.hubSales(prefix);

/** A register selling every `everyMs` until `stop()`; resolves with how many were acked, failing on any error reply. */
function sellEvery(reg: JsonLinesRegister, prefix: string, everyMs: number): { stop: () => Promise<number> } {
  let running = true as boolean; // set to false by stop() while the loop runs
  let acked = 0;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const r = await reg.send(sale(`${prefix}-${i}`, `${prefix}-${i}`, [{ sku: 'K', qty: 1, unitPrice: 100 }]));
      if (r.type !== 'ack') throw new Error(`sale ${i}: ${JSON.stringify(r)}`);
      acked++;
      await new Promise((res) => setTimeout(res, everyMs));
    }
    return acked;
  })();
  return { stop: async () => ((running = false), loop) };
}

describe('admin tokens', () => {
  it('operator tokens read and may not write; revoked tokens are refused', async () => {
    const created = await w.hub.cli(['tokens', 'create', '--role', 'operator', '--name', 'dashboard', '--json']);
    const op = JSON.parse(created.stdout) as { id: string; token: string };
    const asOp = (args: string[]) =>
      runCommand(process.execPath, [HUB_BIN, ...args], {
        TILLBRIDGE_HUB_URL: w.hub.url,
        TILLBRIDGE_ADMIN_TOKEN: op.token,
      });
    expect((await asOp(['stores', 'list'])).code).toBe(0);
    const write = await asOp(['stores', 'add', 'S9']);
    expect(write.code).toBe(4);
    expect(write.stderr).toMatch(/may only read/);
    expect((await w.hub.cli(['tokens', 'revoke', op.id])).code).toBe(0);
    expect((await asOp(['stores', 'list'])).code).toBe(4);
    const list = JSON.parse((await w.hub.cli(['tokens', 'list', '--json'])).stdout) as {
      id: string;
      revokedAt: string | null;
    }[];
    expect(list.find((t) => t.id === op.id)?.revokedAt).toEqual(expect.any(String));
    expect(w.hubQuery(`SELECT action FROM audit WHERE action LIKE 'token.%' ORDER BY id`)).toEqual([
      { action: 'token.create' },
      { action: 'token.revoke' },
    ]);
  });
});

describe('short-lived tokens, refreshed without a dropped message', () => {
  it('refreshes in place: registers keep selling across several token lifetimes on one connection', async () => {
    const a = await w.startAgent('S1', 'refresh', { hub: { tokenRefreshAt: 0.5 } });
    const reg = await JsonLinesRegister.connect(a.port());
    const seller = sellEvery(reg, 'REF', 20);
    await new Promise((r) => setTimeout(r, 7000));
    const acked = await seller.stop();
    await waitFor('all sales at the hub', () => hubSales('REF-') === acked, 30_000);
    expect(disconnects(a)).toBe(0);
    expect(a.proc.lines.filter((l) => l.msg === 'connected to the hub')).toHaveLength(1);
    reg.close();
    await a.proc.stop();
  });

  it(
    'an expired token closes the socket (4001); the agent ' + 'refreshes and reconnects by itself, nothing lost',
    async () => {
      const a = await w.startAgent('S2', 'expiry', { hub: { tokenRefreshAt: 1.5 } }); // never refreshes in time
      const reg = await JsonLinesRegister.connect(a.port());
      const seller = sellEvery(reg, 'EXP', 20);
      await waitFor(
        'an expiry',
        () => a.proc.lines.some((l) => l.msg === 'disconnected from the hub' && l.code === 4001),
        30_000,
      );
      await new Promise((r) => setTimeout(r, 1000));
      const acked = await seller.stop();
      await waitFor('all sales at the hub', () => hubSales('EXP-') === acked, 30_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(hubSales('EXP-')).toBe(acked);
      expect(await connected(a)).toBe(true);
      reg.close();
      await a.proc.stop();
    },
  );
});

describe('API key rotation', () => {
  it(
    'rotates while a register sells every 10 ms: no error, ' + 'no loss; the old key ends with its grace period',
    async () => {
      const a = await w.startAgent('S3', 'rotate');
      const reg = await JsonLinesRegister.connect(a.port());
      const seller = sellEvery(reg, 'ROT', 10);
      await new Promise((r) => setTimeout(r, 800));
      const rot = await w.hub.cli(['keys', 'rotate', 'S3', '--grace', '2s', '--json']);
      expect(rot.code, rot.stderr).toBe(0);
      const newId = (JSON.parse(rot.stdout) as { id: string }).id;
      await waitFor(
        'the agent stored and confirmed the new key',
        () => a.proc.lines.some((l) => l.msg === 'stored a new API key from the hub'),
        30_000,
      );
      // past the grace period and a token lifetime: new tokens come from the new key
      await new Promise((r) => setTimeout(r, 4500));
      const acked = await seller.stop();
      await waitFor('all sales at the hub', () => hubSales('ROT-') === acked, 30_000);
      const keys = JSON.parse((await w.hub.cli(['keys', 'list', 'S3', '--json'])).stdout) as {
        keys: { id: string; state: string; confirmedAt: string | null }[];
      };
      expect(keys.keys.map((k) => k.state)).toEqual(['expired', 'active']);
      expect(keys.keys[1]).toMatchObject({ id: newId, confirmedAt: expect.any(String) });
      // connected with the new key (on a busy machine it may be between a token's end and the next one: give it
      // the time)
      await waitFor('the agent connected with the new key', () => connected(a), 30_000);
      // restarted, the agent uses the key it stored, not the (now dead) one in its config file
      await a.proc.stop();
      const again = await w.startAgent('S3', 'rotate');
      expect(await connected(again)).toBe(true);
      reg.close();
      await again.proc.stop();
    },
  );

  it('an agent killed during a rotation comes back with a working key', async () => {
    const a = await w.startAgent('S4', 'crash');
    const rot = await w.hub.cli(['keys', 'rotate', 'S4', '--grace', '3s', '--json']);
    await a.proc.kill(); // maybe before storing the key, maybe after, maybe before confirming
    const again = await w.startAgent('S4', 'crash');
    const newId = (JSON.parse(rot.stdout) as { id: string }).id;
    await waitFor(
      'the new key confirmed',
      async () => {
        const k = JSON.parse((await w.hub.cli(['keys', 'list', 'S4', '--json'])).stdout) as {
          keys: { id: string; confirmedAt: string | null }[];
        };
        return k.keys.find((x) => x.id === newId)?.confirmedAt != null;
      },
      10_000,
    );
    await new Promise((r) => setTimeout(r, 3500)); // the old key is gone now
    const reg = await JsonLinesRegister.connect(again.port());
    expect(await reg.send(sale('cr-1', 'CRASH-1', [{ sku: 'K', qty: 1, unitPrice: 1 }]))).toEqual({
      type: 'ack',
      id: 'cr-1',
    });
    await waitFor('the sale at the hub', () => hubSales('CRASH-') === 1, 30_000);
    reg.close();
    await again.proc.stop();
  });

  it('revoking a key ends its connection at once and keeps the agent out', async () => {
    const a = await w.startAgent('S1', 'revoke');
    const keys = JSON.parse((await w.hub.cli(['keys', 'list', 'S1', '--json'])).stdout) as {
      keys: { id: string; state: string }[];
    };
    const live = keys.keys.find((k) => k.state === 'active')!;
    expect((await w.hub.cli(['keys', 'revoke', 'S1', live.id])).code).toBe(0);
    await waitFor('the agent disconnected', () => disconnects(a) > 0, 30_000);
    await waitFor(
      'its key refused',
      () => a.proc.lines.some((l) => String(l.msg).startsWith('the hub refused this store')),
      30_000,
    );
    expect(await connected(a)).toBe(false);
    expect(w.hubQuery(`SELECT outcome FROM audit WHERE action = 'key.revoke'`)).toEqual([{ outcome: 'revoked' }]);
    await a.proc.stop();
  });
});

describe('boundaries', () => {
  it("refuses an agent of one store presenting another store's key, and audits it", async () => {
    const a = await w.startAgent('S5', 'cross');
    await a.proc.stop();
    // the same agent database, now with S6's key: its hello names an agent of store S5
    const b = await w.startAgent('S6', 'cross', undefined, false);
    await waitFor(
      'the refusal audited',
      () => w.hubQuery(`SELECT 1 FROM audit WHERE action = 'auth.cross_store'`).length > 0,
      30_000,
    );
    expect(await connected(b)).toBe(false);
    await b.proc.stop();
  });

  it(
    'rate-limits failed authentications per source: blocked, ' +
      'and audited with a count rather than a row per failure',
    async () => {
      const hw = new World();
      await hw.startHub();
      let last = 0;
      for (let i = 0; i < 12; i++) {
        const r = await fetch(`${hw.hub.url}/v1/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ store: 'S1', apiKey: `tbk_wrong_${i}` }),
        });
        last = r.status;
      }
      expect(last).toBe(429);
      // blocked for what fails or carries no credential; a working credential is still served
      // (many stores and operators may share the address: rate-limit.e2e)
      const badAdmin = await fetch(`${hw.hub.url}/v1/admin/stores`, { headers: { authorization: 'Bearer tba_wrong' } });
      expect(badAdmin.status).toBe(429);
      expect(Number(badAdmin.headers.get('retry-after'))).toBeGreaterThan(0);
      const admin = await fetch(`${hw.hub.url}/v1/admin/stores`, {
        headers: { authorization: `Bearer ${hw.adminToken}` },
      });
      expect(admin.status).toBe(200);
      expect((await fetch(`${hw.hub.url}/readyz`)).status).toBe(429);
      expect((await fetch(`${hw.hub.url}/healthz`)).status).toBe(200);
      const audit = hw.hubQuery<{ action: string; details: string }>(
        `SELECT action, details FROM audit WHERE action LIKE 'auth.%' ORDER BY id`,
      );
      // the first failure at once, the other nine counted into the block
      expect(audit.map((a) => [a.action, (JSON.parse(a.details) as { count: number }).count])).toEqual([
        ['auth.refused', 1],
        ['auth.blocked', 9],
      ]);
      await hw.close();
    },
  );

  it('with --require-client-cert, an agent without a store certificate is refused', async () => {
    const hw = new World();
    const certs = join(hw.dir, 'certs');
    await runCommand(process.execPath, [HUB_BIN, 'certs', 'dev', '--out', certs, '--stores', 'S1']);
    await hw.startHub(
      undefined,
      [
        '--tls-cert',
        join(certs, 'hub.pem'),
        '--tls-key',
        join(certs, 'hub-key.pem'),
        '--client-ca',
        join(certs, 'ca.pem'),
        '--require-client-cert',
      ],
      { ca: join(certs, 'ca.pem') },
    );
    await hw.addStore('S1');
    const without = await hw.startAgent('S1', 'nocert', { hub: { caFile: join(certs, 'ca.pem') } }, false);
    await without.proc.waitForLine((l) => String(l.msg).startsWith('the hub refused this store'));
    await without.proc.stop();
    const withCert = await hw.startAgent('S1', 'cert', {
      hub: {
        caFile: join(certs, 'ca.pem'),
        certFile: join(certs, 'store-S1.pem'),
        keyFile: join(certs, 'store-S1-key.pem'),
      },
    });
    expect(await connected(withCert)).toBe(true);
    await hw.close();
  });
});
