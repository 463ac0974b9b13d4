import type { IncomingHttpHeaders } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { setStock } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { serveOnLoopback, withBody, type LoopbackServer } from '../support/http-server.js';
import { cashReturn, returnRequest, sale, World, type Decision } from './fixture.js';

/** A receiver on 127.0.0.1 that checks every signature with the Standard Webhooks reference library. */
interface Msg {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}
let server: LoopbackServer;
let url = '';
const got: { headers: IncomingHttpHeaders; body: string }[] = [];
const messages = (type?: string): Msg[] =>
  got
    .map((g) => ({ ...(JSON.parse(g.body) as Omit<Msg, 'id'>), id: String(g.headers['webhook-id']) }))
    .filter((m) => !type || m.type === type);

let w: World;
let secret = '';
beforeAll(async () => {
  server = await serveOnLoopback(
    withBody((req, body, res) => {
      got.push({ headers: req.headers, body });
      res.writeHead(204).end();
    }),
  );
  url = `${server.url}/hooks`;
  w = new World();
  await w.startHub();
  await w.addStore('S1');
  await w.addStore('S2');
  await setStock(w.hub, 'S1', 'A', 10);
});
afterAll(async () => {
  await w.close();
  await server.close();
});

describe("webhooks on the hub's events, end to end", () => {
  it('announces decisions, completions, stock movements, register state and refused events, each signed', async () => {
    const add = await w.cliJson<{ secret: string }>([
      'webhooks',
      'add',
      url,
      '--events',
      'return.authorized,return.denied,return.completed,return.cancelled,return.exception,' +
        'inventory.adjusted,terminal.status',
      '--store',
      'S1',
    ]);
    secret = add.secret;
    expect(secret).toMatch(/^whsec_/);

    const a = await w.startAgent('S1');
    await waitFor('terminal.status for R1', () => messages('terminal.status').some((m) => m.data.register === 'R1'));
    const reg = await JsonLinesRegister.connect(a.port());
    await reg.send(sale('s-1', 'WH-1', [{ sku: 'A', qty: 2, unitPrice: 1200 }]));
    const d = await reg.send<Decision>(returnRequest('r-1', 'WH-1'));
    expect(d).toMatchObject({ decision: 'approved', mode: 'online' });
    const denied = await reg.send<Decision>(returnRequest('r-2', 'WH-1', 5));
    expect(denied.decision).toBe('denied');
    expect(await reg.send(cashReturn('c-1', d.authorization, 1200))).toEqual({ type: 'ack', id: 'c-1' });
    const c = await reg.send<Decision>(returnRequest('r-3', 'WH-1'));
    expect(await reg.send({ type: 'return.cancel', id: 'x-3', authorization: c.authorization })).toEqual({
      type: 'ack',
      id: 'x-3',
    });

    await waitFor(
      'the completion and cancellation announced',
      () => messages('return.completed').length === 1 && messages('return.cancelled').length === 1,
    );
    expect(messages('return.authorized').map((m) => m.data.authorization)).toEqual([d.authorization, c.authorization]);
    expect(messages('return.denied')).toHaveLength(1);
    expect(messages('return.denied')[0]!.data).toMatchObject({
      authorization: denied.authorization,
      decision: 'denied',
      lines: [{ line: 1, sku: 'A', requestedQty: 5, approvedQty: 0 }],
    });
    expect(messages('return.completed')[0]!.data).toMatchObject({
      authorization: d.authorization,
      store: 'S1',
      register: 'R1',
      receipt: 'WH-1',
      mode: 'online',
      status: 'completed',
      kind: 'partial',
      refund: { amount: 1200, kind: 'cash' },
      lines: [{ line: 1, sku: 'A', completedQty: 1 }],
      restocked: [{ sku: 'A', qty: 1 }],
    });
    expect(messages('return.cancelled')[0]!.data).toMatchObject({
      authorization: c.authorization,
      status: 'cancelled',
      cause: 'register',
    });
    // the ledger, movement by movement (the stock was set before the webhook existed): sold 2, returned 1
    await waitFor('stock movements', () => messages('inventory.adjusted').length === 2);
    expect(messages('inventory.adjusted').map((m) => [m.data.sku, m.data.kind, m.data.delta, m.data.onHand])).toEqual([
      ['A', 'sale', -2, 8],
      ['A', 'return', 1, 9],
    ]);

    // an event the hub refuses for good: a sale under a receipt number the store already used (through another channel)
    const file = join(w.dir, 'web-sales.jsonl');
    const { type: _t, id: _i, ...web } = sale('web-1', 'WH-DUP', [{ sku: 'B', qty: 1, unitPrice: 100 }]);
    writeFileSync(file, `${JSON.stringify({ ...web, store: 'S1', channel: 'web' })}\n`);
    const imp = await w.hub.cli(['sales', 'import', file]);
    expect(imp.code, imp.stderr).toBe(0);
    await reg.send(sale('s-2', 'WH-DUP', [{ sku: 'A', qty: 1, unitPrice: 100 }]));
    await waitFor('return.exception', () => messages('return.exception').length === 1);
    expect(messages('return.exception')[0]!.data).toMatchObject({
      origin: 'refused',
      store: 'S1',
      register: 'R1',
      code: 'duplicate_receipt',
      event: { kind: 'sale' },
    });

    // every message verifies with the endpoint's secret; a changed body does not
    const wh = new Webhook(secret);
    for (const g of got) expect(() => wh.verify(g.body, g.headers as Record<string, string>)).not.toThrow();
    expect(() => wh.verify(got[0]!.body.replace('S1', 'S9'), got[0]!.headers as Record<string, string>)).toThrow();
    // one webhook-id per event
    expect(new Set(got.map((g) => g.headers['webhook-id'])).size).toBe(got.length);
    // and the hub counts them: each process the attempts it made, all of them the open deliveries
    const metrics = await Promise.all(w.hubs.map(async (h) => (await fetch(`${h.url}/metrics`)).text()));
    expect(
      metrics.reduce(
        (n, m) => n + Number(/^tillbridge_webhook_attempts_total\{outcome="succeeded"\} (\d+)$/m.exec(m)?.[1] ?? 0),
        0,
      ),
    ).toBe(got.length);
    for (const m of metrics) expect(/^tillbridge_webhook_deliveries_open (\d+)$/m.exec(m)?.[1]).toBe('0');
    reg.close();
  });

  it(
    'refusedEvents=exception keeps refused events as exceptions ' +
      'without announcing them; other stores are not sent',
    async () => {
      await w.cliJson(['config', 'set', 'S1', 'refusedEvents=exception']);
      const a = w.agents[0]!;
      const reg = await JsonLinesRegister.connect(a.port());
      await reg.send(sale('s-3', 'WH-DUP', [{ sku: 'A', qty: 1, unitPrice: 100 }]));
      await waitFor(
        'the second refusal recorded',
        async () => (await w.cliJson<unknown[]>(['returns', 'exceptions', '--store', 'S1'])).length === 2,
      );
      const deliveries = await w.cliJson<{ type: string }[]>(['webhooks', 'deliveries']);
      expect(deliveries.filter((x) => x.type === 'return.exception')).toHaveLength(1);
      // S2's agent and its register: not this endpoint's store
      const before = got.length;
      await w.startAgent('S2');
      await new Promise((r) => setTimeout(r, 1500));
      expect(got.slice(before).every((g) => (JSON.parse(g.body) as Msg).data.store === 'S1')).toBe(true);
      reg.close();
    },
  );
});
