import { beforeAll, describe, expect, it } from 'vitest';
import type { AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { sale, worldForFile } from './fixture.js';

/**
 * The ERP feed pulled by a consumer that keeps its cursor at the hub, across a SIGKILL of the hub
 * (every hub process, on PostgreSQL) and a restart of the consumer itself: it sees every entry
 * once, in order — the same entries an export of the whole feed gives at the end.
 */
interface Entry {
  position: number;
  id: string;
  type: string;
  store: string;
  data: Record<string, unknown>;
}

const w = worldForFile({ stores: ['S1'], stock: { S1: { 'SKU-A': 1000 } } });
let agent: AgentHandle;
let reg: JsonLinesRegister;

beforeAll(async () => {
  agent = await w.startAgent('S1');
  reg = await w.register(agent);
});

/**
 * An ERP job: long-polls `GET /v1/feed?consumer=erp` (the first page after what it acknowledged),
 * then follows its own cursor; acknowledges each page once handled. Rides out the hub being down.
 */
function consumer(seen: Entry[]): { stop: () => Promise<void> } {
  let running = true as boolean; // set to false by stop() while the loop runs
  let after: number | undefined;
  const loop = (async () => {
    while (running) {
      try {
        const q = after === undefined ? 'consumer=erp' : `after=${after}`;
        const page = await w.hub.admin.get<{ entries: Entry[]; next: number }>(`/v1/feed?${q}&limit=7&wait=2`);
        seen.push(...page.entries);
        if (page.next !== after && page.entries.length > 0)
          await w.hub.admin.post('/v1/feed/consumers/erp/ack', { position: page.next });
        after = page.next;
      } catch {
        await new Promise((r) => setTimeout(r, 100)); // the hub is down: try again
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

const receiptsOf = (entries: Entry[]) =>
  entries.filter((e) => e.type === 'sale.recorded').map((e) => e.data.receipt as string);

describe('a consumer following the pull feed', () => {
  it('sees every entry once, in order, across a SIGKILL of the hub and its own restart', async () => {
    const seen: Entry[] = [];
    let c = consumer(seen);
    for (let i = 1; i <= 10; i++)
      expect(await reg.send(sale(`s-${i}`, `F-${i}`, [{ sku: 'SKU-A', qty: 1, unitPrice: 100 + i }]))).toMatchObject({
        type: 'ack',
      });
    await waitFor('the first sales on the feed', () => receiptsOf(seen).length === 10, 30_000);
    await c.stop(); // the job stops; its cursor is at the hub

    for (const h of w.hubs) await h.proc.kill(); // SIGKILL, every process
    for (let i = 11; i <= 20; i++)
      expect(await reg.send(sale(`s-${i}`, `F-${i}`, [{ sku: 'SKU-A', qty: 1, unitPrice: 100 + i }]))).toMatchObject({
        type: 'ack',
      }); // into the agent's outbox
    await w.restartHubs();

    c = consumer(seen); // a new run of the job: resumes after its acknowledged position
    for (let i = 21; i <= 25; i++)
      expect(await reg.send(sale(`s-${i}`, `F-${i}`, [{ sku: 'SKU-A', qty: 1, unitPrice: 100 + i }]))).toMatchObject({
        type: 'ack',
      });
    await waitFor('every sale on the feed', () => receiptsOf(seen).length >= 25, 60_000);
    await c.stop();

    const positions = seen.map((e) => e.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(new Set(positions).size).toBe(positions.length); // nothing twice
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect(receiptsOf(seen)).toEqual(Array.from({ length: 25 }, (_, i) => `F-${i + 1}`));
    // nothing skipped: what it saw is the whole feed up to there
    const all = await w.hub.admin.get<{ entries: Entry[] }>(`/v1/feed?after=0&limit=1000`);
    expect(seen.map((e) => e.id)).toEqual(all.entries.filter((e) => e.position <= positions.at(-1)!).map((e) => e.id));
    // a movement per sale, and the stock set at the start
    expect(seen.filter((e) => e.type === 'inventory.adjusted')).toHaveLength(25 + 1);
  });

  it('tillbridge-hub feed tail, consumers and status, against the running hub', async () => {
    const tail = await w.hub.cli(['feed', 'tail', '--after', '0', '--type', 'sale.recorded', '--limit', '3', '--json']);
    expect(tail.code).toBe(0);
    expect(
      tail.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Entry).data.receipt),
    ).toEqual(['F-1', 'F-2', 'F-3']);
    const consumers = await w.hub.cli(['feed', 'consumers']);
    expect(consumers.stdout).toMatch(/erp\s+\d+\s+0\s/);
    const status = await w.hub.cli(['status']);
    expect(status.stdout).toMatch(/ERP feed: head \d+; consumers: erp 0 behind \(last ack /);
  });
});
