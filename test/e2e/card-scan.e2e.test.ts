import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { containsTrackData, findCardNumbers } from '@tillbridge/shared';
import type { AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { ROOT } from '@tillbridge/scripts/lib/paths';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { worldForFile, type Decision } from './fixture.js';

/** Published test card numbers (Visa, Mastercard, Amex, Discover, JCB, Diners), never real ones. */
const CARDS = [
  '4111111111111111',
  '4012888888881881',
  '5555555555554444',
  '5105105105105100',
  '378282246310005',
  '6011111111111117',
  '3530111333300000',
  '30569309025904',
];
const spaced = (pan: string): string => pan.replace(/(\d{4})(?=\d)/g, '$1 ');

const w = worldForFile({ stores: ['S1'], stock: { S1: { A: 100 } } });
let agent: AgentHandle;
let auditExport = '';

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/**
 * Every card number written in `text`, every track-data shape, and any of the test card numbers
 * sent, wherever its digits stand (inside a longer run of digits, spaces and dashes too).
 */
function scan(text: string): string[] {
  const digitRuns = text.replace(/(\d)[ -](?=\d)/g, '$1');
  const sent = CARDS.filter((c) => digitRuns.includes(c));
  return [...findCardNumbers(text), ...sent, ...(containsTrackData(text) ? ['track data'] : [])];
}

describe('no card data at rest', () => {
  it(
    'sends test card numbers in every tender and field a ' + 'register can, over every codec, online and offline',
    async () => {
      agent = await w.startAgent('S1', 'cards', {
        registers: [
          { id: 'R1', transport: { type: 'tcp-server', port: 0 }, codec: 'jsonl' },
          {
            id: 'POS1',
            transport: { type: 'http', port: 0, contentType: 'application/xml' },
            codec: { type: 'poslog', defaultCurrency: 'EUR' },
          },
        ],
      });
      const reg = await JsonLinesRegister.connect(agent.port('R1'));
      const now = new Date().toISOString();
      const tenders = CARDS.map((pan, i) => ({ kind: 'card', amount: 1, pan: i % 2 ? spaced(pan) : pan }));
      expect(
        await reg.send({
          type: 'sale',
          id: 'c-1',
          receipt: 'CARDS-1',
          at: now,
          currency: 'EUR',
          lines: [{ line: 1, sku: 'A', qty: 8, unitPrice: 1 }],
          tenders,
        }),
      ).toEqual({ type: 'ack', id: 'c-1' });

      // a card number where it does not belong: refused in identifiers, masked in free text
      for (const [field, msg] of [
        [
          'id',
          {
            type: 'sale',
            id: CARDS[0],
            receipt: 'X',
            at: now,
            currency: 'EUR',
            lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 1 }],
          },
        ],
        [
          'receipt',
          {
            type: 'sale',
            id: 'c-2',
            receipt: CARDS[1],
            at: now,
            currency: 'EUR',
            lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 1 }],
          },
        ],
        [
          'receipt after a number',
          {
            type: 'sale',
            id: 'c-2b',
            receipt: `2 ${CARDS[2]}`,
            at: now,
            currency: 'EUR',
            lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 1 }],
          },
        ],
        [
          'sku',
          {
            type: 'sale',
            id: 'c-3',
            receipt: 'X',
            at: now,
            currency: 'EUR',
            lines: [{ line: 1, sku: CARDS[2], qty: 1, unitPrice: 1 }],
          },
        ],
        [
          'track 2',
          {
            type: 'sale',
            id: 'c-5',
            receipt: 'X',
            at: now,
            currency: 'EUR',
            lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 1 }],
            tenders: [{ kind: 'card', amount: 1, pan: `;${CARDS[4]}=28121011234567890?` }],
          },
        ],
        [
          'cvv',
          {
            type: 'sale',
            id: 'c-6',
            receipt: 'X',
            at: now,
            currency: 'EUR',
            lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 1 }],
            tenders: [{ kind: 'card', amount: 1, pan: CARDS[5], cvv: '737' }],
          },
        ],
        ['manager code', { type: 'return.override', id: 'c-7', authorization: 'a', manager: 'M', code: CARDS[6] }],
        ['authorization', { type: 'return.cancel', id: 'c-8', authorization: CARDS[7] }],
      ] as const) {
        const r = await reg.send<{ type: string; code: string }>(msg);
        expect(r, field).toMatchObject({ type: 'error', code: 'TB_CARD_DATA' });
      }
      // free text keeps the message, masked
      expect(
        await reg.send({
          type: 'sale',
          id: 'c-9',
          receipt: 'CARDS-2',
          at: now,
          currency: 'EUR',
          lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 1 }],
          tenders: [{ kind: `card ${CARDS[3]}`, amount: 1 }],
        }),
      ).toEqual({ type: 'ack', id: 'c-9' });
      const d = await reg.send<Decision>({
        type: 'return.request',
        id: 'c-10',
        receipt: 'CARDS-1',
        lines: [{ line: 1, qty: 1, reason: `refund to ${spaced(CARDS[0]!)} please` }],
      });
      expect(d.decision).toBe('approved');
      expect(
        await reg.send({
          type: 'return.complete',
          id: 'c-11',
          authorization: d.authorization,
          lines: [{ line: 1, qty: 1 }],
          refund: { kind: 'card', amount: 1, pan: CARDS[1] },
        }),
      ).toEqual({ type: 'ack', id: 'c-11' });
      expect(
        await reg.send({ type: 'return.request', id: 'c-12', card: CARDS[2], lines: [{ sku: 'A', qty: 1 }] }),
      ).toMatchObject({ type: 'return.decision', receipt: 'CARDS-1' });
      expect(await reg.send({ type: 'receipt.lookup', id: 'c-13', card: CARDS[3] })).toMatchObject({
        type: 'receipt',
        found: true,
      });
      expect(
        await reg.send({ type: 'status', id: 'c-14', state: 'error', detail: `terminal printed ${CARDS[4]}` }),
      ).toEqual({ type: 'ack', id: 'c-14' });
      // right after another number, as people write in free text
      const boxed = await reg.send<Decision>({
        type: 'return.request',
        id: 'c-15',
        receipt: 'CARDS-1',
        lines: [{ line: 1, qty: 1, reason: `box 2 ${CARDS[7]} signed` }],
      });
      expect(boxed.decision).toBe('approved');

      // POSLog with a full card number in the document
      const pos = new URL(
        agent.proc.lines.find((l) => l.msg === 'register endpoint ready' && l.register === 'POS1')!.at as string,
      );
      const posBody = await (
        await fetch(pos, {
          method: 'POST',
          body: readFileSync(join(ROOT, 'agent', 'test', 'fixtures', 'poslog', 'full-pan-sale.xml')),
        })
      ).text();
      expect(posBody).toMatch(/<Ack /);

      // offline too
      const port = w.hub.port;
      auditExport += JSON.stringify(await w.hub.admin.get('/v1/admin/audit?after=0&limit=10000'));
      await w.hub.proc.stop();
      await agent.proc.waitForLine((l) => l.msg === 'disconnected from the hub');
      const off = await reg.send<Decision>({
        type: 'return.request',
        id: 'c-20',
        receipt: 'CARDS-1',
        lines: [{ line: 1, qty: 1, reason: `card ${CARDS[5]}` }],
      });
      expect(off).toMatchObject({ mode: 'offline', decision: 'approved' });
      await reg.send({
        type: 'return.complete',
        id: 'c-21',
        authorization: off.authorization,
        lines: [{ line: 1, qty: 1 }],
        refund: { kind: 'card', amount: 1, pan: spaced(CARDS[6]!) },
      });
      await w.startHub(port);
      await waitFor(
        'the offline return at the hub',
        () =>
          w.hubQuery(`SELECT 1 FROM returns WHERE authorization = ? AND status = 'completed'`, off.authorization)
            .length === 1,
        60_000,
      );
      auditExport += JSON.stringify(await w.hub.admin.get('/v1/admin/audit?after=0&limit=10000'));
      auditExport += JSON.stringify(await w.hub.admin.get('/v1/admin/returns'));
      auditExport += JSON.stringify(await w.hub.admin.get('/v1/admin/sales/CARDS-1'));
      reg.close();
    },
  );

  it('then finds no card number and no track data in any SQLite file, WAL, log, or audit export', async () => {
    await agent.proc.stop();
    await w.hub.proc.stop();
    // the scanner itself must be able to fail
    expect(scan(`x ${CARDS[0]} y`)).toEqual([CARDS[0], CARDS[0]]);
    expect(scan(`box 2 ${CARDS[7]} signed`)).toEqual([CARDS[7], CARDS[7]]);
    expect(scan(`box 2${CARDS[7]}`)).toEqual([CARDS[7]]);
    const files = filesUnder(w.dir);
    expect(files.some((f) => f.endsWith('.sqlite'))).toBe(true);
    const hits: string[] = [];
    for (const f of files) for (const h of scan(readFileSync(f).toString('latin1'))) hits.push(`${f}: ${h}`);
    const logs = [...w.agents, w.hub]
      .flatMap((p) => [...p.proc.lines.map((l) => JSON.stringify(l)), ...p.proc.stderr])
      .join('\n');
    for (const h of scan(logs)) hits.push(`logs: ${h}`);
    for (const h of scan(auditExport)) hits.push(`audit export: ${h}`);
    expect(hits).toEqual([]);
    // and the masked forms are there: the data was kept, only the numbers were not
    expect(auditExport + files.map((f) => readFileSync(f).toString('latin1')).join('')).toContain('411111******1111');
  });
});
