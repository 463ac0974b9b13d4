import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onHand } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { invariantViolations, sale, skuWorld } from './fixture.js';

const { w } = skuWorld();

describe('crashes lose nothing and duplicate nothing', () => {
  it('an agent SIGKILLed right after acking a sale delivers it exactly once after restart', async () => {
    await w.stopHubs(); // every hub process, so the sale cannot have left before the kill
    let a = await w.startAgent('S1', 'k1', undefined, false);
    const reg = await JsonLinesRegister.connect(a.port());
    expect(await reg.send(sale('k-1', 'KILL-1', [{ sku: 'K', qty: 1, unitPrice: 100 }]))).toEqual({
      type: 'ack',
      id: 'k-1',
    });
    await a.proc.kill();
    expect(a.proc.proc.signalCode).toBe('SIGKILL');
    await w.restartHubs();
    a = await w.startAgent('S1', 'k1');
    await waitFor('the sale at the hub', () => w.hubSales('KILL-1') === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(w.hubSales('KILL-1')).toBe(1);
    await a.proc.stop();
  });

  it('an agent SIGKILLed in the middle of a stream of sales: every acked sale arrives exactly once', async () => {
    let a = await w.startAgent('S1', 'k2');
    const reg = await JsonLinesRegister.connect(a.port());
    let acked = 0;
    for (let i = 0; i < 200; i++) {
      const r = await reg.send(sale(`st-${i}`, `STREAM-${i}`, [{ sku: 'K', qty: 1, unitPrice: 100 }]));
      if (r.type === 'ack') acked++;
      if (i === 150) void a.proc.kill(); // mid-batch, mid-upload
      if (i >= 150) break;
    }
    await a.proc.exited;
    a = await w.startAgent('S1', 'k2');
    await waitFor('every acked sale at the hub', () => w.hubSales('STREAM-') >= acked, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(w.hubSales('STREAM-')).toBe(acked);
    await a.proc.stop();
  });

  it('a hub SIGKILLed while agents upload: nothing lost, nothing applied twice', async () => {
    const a = await w.startAgent('S1', 'k3');
    const reg = await JsonLinesRegister.connect(a.port());
    // the hub process the agent uploads to (with several, the agent moves on to another meanwhile)
    const holding = w.hubOf(a);
    for (let i = 0; i < 300; i++) {
      expect((await reg.send(sale(`h-${i}`, `HUBKILL-${i}`, [{ sku: 'K', qty: 1, unitPrice: 100 }]))).type).toBe('ack');
      if (i === 100) await holding.proc.kill();
      if (i === 200) await w.restartHubs();
    }
    await waitFor('all 300 at the hub', () => w.hubSales('HUBKILL-') === 300, 30_000);
    const before = await onHand(w.hub, 'S1', 'K');
    await new Promise((r) => setTimeout(r, 300));
    expect(w.hubSales('HUBKILL-')).toBe(300);
    expect(await onHand(w.hub, 'S1', 'K')).toBe(before);
    expect(invariantViolations(w)).toEqual({ overReturned: [], ledgerDrift: [] });
  });

  it('a hub SIGKILLed during an import leaves its spool only in its own temporary folder, then removed', async () => {
    const spools = (d: string): string[] => readdirSync(d).filter((f) => f.startsWith('tillbridge-import-'));
    const hub = w.hub;
    // a sales import whose body is still on its way: the hub is spooling it
    const upload = request(`${hub.url}/v1/admin/sales`, {
      method: 'POST',
      headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/x-ndjson' },
    });
    upload.on('error', () => undefined);
    upload.write('{"store":"S1",');
    await waitFor("the spool in the hub process's temporary folder", () => spools(hub.tmpDir).length === 1);
    const [spool] = spools(hub.tmpDir);
    await hub.proc.kill();
    upload.destroy();
    await waitFor('the folder removed once the process exited', () => !existsSync(hub.tmpDir));
    // not in the machine's temporary directory either. Other test files import in parallel and spool
    // there (each under its own random name), so this looks for the name this hub spooled under, and
    // for nothing else.
    expect(existsSync(join(tmpdir(), spool!))).toBe(false);
    await w.restartHubs();
  });
});
