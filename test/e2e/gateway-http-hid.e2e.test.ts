import { vendorFixtures } from '@tillbridge/scripts/lib/fixtures';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningAgent } from '@tillbridge/agent';
import { onHand } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { returnRequest, sale, worldForFile } from './fixture.js';
import { startScannerAgent } from './hid-agent.js';
import { wsText } from '../support/ws.js';

const POSLOG = vendorFixtures('poslog');

// the sales below are dated: the processes' clocks are too
const w = worldForFile({ clockStart: '2026-11-28T10:00:00Z', stores: ['S1', 'S2'], stock: { S1: { A: 5 } } });

const portOf = (
  agent: { proc: { lines: { msg?: string; register?: unknown; at?: unknown }[] } },
  register: string,
): URL =>
  new URL(agent.proc.lines.find((l) => l.msg === 'register endpoint ready' && l.register === register)!.at as string);

describe('modern POS software over HTTP and WebSocket', () => {
  it('takes a POSLog sale and its return over HTTP, and JSON messages over a WebSocket', async () => {
    const a = await w.startAgent('S1', 'http', {
      registers: [
        { id: 'R1', transport: { type: 'tcp-server', port: 0 }, codec: 'jsonl' },
        {
          id: 'POS1',
          transport: { type: 'http', port: 0, contentType: 'application/xml; charset=utf-8', maxBodyBytes: 1_048_576 },
          codec: { type: 'poslog', receiptKey: 'sequence' },
        },
        { id: 'WEB1', transport: { type: 'http', port: 0 }, codec: 'jsonl' },
      ],
    });
    const pos = portOf(a, 'POS1');
    // the public DigitalReceipt sale is from 2017: this store accepts returns that old
    expect(
      (await w.hub.cli(['policy', 'set', '--store', 'S1', 'returnWindowDays=3650', '--note', 'old receipts accepted']))
        .code,
    ).toBe(0);
    const post = (file: string) =>
      fetch(pos, {
        method: 'POST',
        headers: { 'content-type': 'application/xml' },
        body: readFileSync(join(POSLOG, file)),
      }).then(async (r) => ({ status: r.status, type: r.headers.get('content-type'), body: await r.text() }));
    const s = await post('swedishpaymentandecrgroup-digital-receipt-standard-sale.xml');
    expect(s.status).toBe(200);
    expect(s.type).toMatch(/xml/);
    expect(s.body).toMatch(/<Ack Id="[^"]+" Receipt="1281111260543493"/);
    await waitFor(
      'the POSLog sale at the hub',
      () => w.hubQuery(`SELECT 1 FROM sales WHERE receipt = '1281111260543493'`).length === 1,
    );
    const r = await post('swedishpaymentandecrgroup-digital-receipt-standard-return.xml');
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/<ReturnDecision [^>]*Decision="approved" Mode="online"/);
    // the same document again: same answer, no second effect
    const again = await post('swedishpaymentandecrgroup-digital-receipt-standard-return.xml');
    expect(again.body).toBe(r.body);
    expect(w.hubQuery(`SELECT COUNT(*) AS n FROM returns WHERE receipt = '1281111260543493'`)).toEqual([{ n: 1 }]);
    // garbage gets an error document and stores nothing
    const bad = await fetch(pos, { method: 'POST', body: '<POSLog><Transaction>' });
    expect(await bad.text()).toMatch(/<Error [^>]*Code="TB_MALFORMED"/);

    const ws = new WebSocket(portOf(a, 'WEB1').toString().replace(/^http/, 'ws'));
    await new Promise((res) => ws.once('open', res));
    const ask = (m: unknown) =>
      new Promise<Record<string, unknown>>((res) => {
        ws.once('message', (d) => res(JSON.parse(wsText(d)) as Record<string, unknown>));
        ws.send(JSON.stringify(m));
      });
    expect(await ask(sale('ws-1', 'WS-1', [{ sku: 'A', qty: 2, unitPrice: 100 }]))).toEqual({
      type: 'ack',
      id: 'ws-1',
    });
    expect(await ask(returnRequest('ws-2', 'WS-1', 3))).toMatchObject({
      decision: 'denied',
      lines: [{ code: 'exceeds_returnable' }],
    });
    ws.close();
    await waitFor('the WebSocket sale at the hub', async () => (await onHand(w.hub, 'S1', 'A')) === 3);
    await a.proc.stop();
  });
});

describe('a USB HID barcode scanner assigned to a register', () => {
  let agent: RunningAgent | undefined;
  afterAll(async () => agent?.stop());

  it('scans a receipt and pushes it, with what is returnable, to the register', async () => {
    const started = await startScannerAgent(w, 'S2', 100);
    ({ agent } = started);
    const { hid: fake, scan: rec } = started;
    await waitFor('the agent connected', () => agent!.status().hub.connected);
    const reg = await JsonLinesRegister.connect(agent.registerPort('R1')!);
    await reg.send(sale('h-1', rec.expected![0]!, [{ sku: 'A', qty: 2, unitPrice: 100 }]));
    const pushed = new Promise<string>((res) => {
      // the next line the register receives is unsolicited
      void reg.sendRaw('').then(res);
    });
    fake.plug(rec.device);
    await waitFor('the scanner opened', () => fake.openHandles(rec.device.path) > 0, 5000);
    for (const hex of rec.reports) fake.emitReport(rec.device.path, hex);
    const msg = JSON.parse(await pushed) as Record<string, unknown>;
    expect(msg).toMatchObject({
      type: 'receipt',
      receipt: 'RCPT-000123',
      found: true,
      source: 'hub',
      store: 'S2',
      lines: [{ line: 1, sku: 'A', qty: 2, returnable: 2 }],
    });
    expect(String(msg.id)).toMatch(/^scan-SC1-/);
    // the hub knows the scanner as a terminal of the store: the register it feeds, its device, its last scan
    interface Terminal {
      register: string;
      kind: string;
      codec: string | null;
      feeds: string | null;
      state: string;
      transport: string;
      detail: string | null;
      lastMessageAt: string | null;
    }
    const terminals = async (): Promise<Terminal[]> =>
      (await w.cliJson<{ stores: { terminals: Terminal[] }[] }>(['status', '--store', 'S2', '--json'])).stores[0]!
        .terminals;
    await waitFor('the scan at the hub', async () =>
      (await terminals()).some((t) => t.register === 'SC1' && t.lastMessageAt !== null),
    );
    expect((await terminals()).find((t) => t.register === 'SC1')).toMatchObject({
      kind: 'scanner',
      codec: 'hid-keyboard',
      feeds: 'R1',
      state: 'connected',
      transport: `hid://05e0:1200@${rec.device.path}`,
    });
    expect((await terminals()).find((t) => t.register === 'R1')).toMatchObject({ kind: 'register', codec: 'jsonl' });
    fake.unplug(rec.device.path);
    await waitFor('the scanner down at the hub', async () =>
      (await terminals()).some((t) => t.register === 'SC1' && t.state === 'disconnected'),
    );
    expect((await terminals()).find((t) => t.register === 'SC1')?.detail).toMatch(
      /device lost|unplugged|no HID device 05e0:1200 plugged in/,
    );
    const human = await w.hub.cli(['status', '--store', 'S2']);
    expect(human.stdout).toMatch(/SC1\s+scanner \(R1\)\s+hid-keyboard\s+disconnected\s+hid:\/\/05e0:1200/);
    reg.close();
  });
});
