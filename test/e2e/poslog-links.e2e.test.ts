import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '@tillbridge/scripts/lib/paths';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { invariantViolations, worldForFile } from './fixture.js';

/**
 * A POSLog sale, then POSLog returns that name it by every shape of TransactionLink registers
 * write (business day; begin time without a zone, in UTC, with an offset; end time after
 * midnight; neither; a negative-quantity sale; a transaction-level link), through a real agent
 * and a real hub: each is authorized online against the sale, none is receipt_not_found.
 */
const GOLDEN = join(ROOT, 'agent', 'test', 'fixtures', 'poslog');
const SALE = 'NY7-3-815-20260314';

/** Each <ReturnDecision> of a reply document, with its lines. */
const decisions = (reply: string): string[] =>
  [...reply.matchAll(/<ReturnDecision [\s\S]*?<\/ReturnDecision>/g)].map((m) => m[0]);

const w = worldForFile({ stores: ['S1'] });
beforeAll(async () => {
  // the golden sale is from March 2026: this store accepts returns that old
  expect(
    (
      await w.hub.cli([
        'policy',
        'set',
        '--store',
        'S1',
        'returnWindowDays=3650',
        '--note',
        'golden documents are dated',
      ])
    ).code,
  ).toBe(0);
});

describe('POSLog returns find their sale whatever the link names', () => {
  it('authorizes a return in each link shape against the sale that crossed midnight', async () => {
    const a = await w.startAgent('S1', 'links', {
      registers: [
        {
          id: 'POS1',
          transport: { type: 'http', port: 0, contentType: 'application/xml; charset=utf-8' },
          codec: { type: 'poslog', timeZone: 'America/New_York' },
        },
      ],
    });
    const url = new URL(
      a.proc.lines.find((l) => l.msg === 'register endpoint ready' && l.register === 'POS1')!.at as string,
    );
    const post = async (body: string) =>
      (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/xml' }, body })).text();
    const golden = (name: string) => readFileSync(join(GOLDEN, name), 'utf8');

    expect(await post(golden('link-sale-midnight.xml'))).toMatch(new RegExp(`<Ack Id="[^"]+" Receipt="${SALE}"`));
    await waitFor(
      'the POSLog sale at the hub',
      () => w.hubQuery(`SELECT 1 FROM sales WHERE receipt = ?`, SALE).length === 1,
    );

    const approved = decisions(await post(golden('link-returns.xml')));
    expect(approved).toHaveLength(8);
    approved.forEach((d, i) => {
      expect(d, `link shape ${i + 1}`).toMatch(
        new RegExp(
          `^<ReturnDecision [^>]*Decision="approved" Mode="online" ` +
            `Receipt="${SALE}" WorkstationID="3" SequenceNumber="90${i + 1}">`,
        ),
      );
      expect(d, `link shape ${i + 1}`).toMatch(/<Line Number="[12]" ApprovedQuantity="1" Code="ok"\/>/);
    });
    expect(w.hubQuery(`SELECT COUNT(*) AS n FROM returns WHERE receipt = ? AND decision = 'approved'`, SALE)).toEqual([
      { n: 8 },
    ]);

    // links to a sale nobody recorded are denied for that reason: the shapes above were found, not waved through
    const unknown = golden('link-returns.xml')
      .replace(/<SequenceNumber>815<\/SequenceNumber>/g, '<SequenceNumber>816</SequenceNumber>')
      .replace(/<SequenceNumber>90(\d)<\/SequenceNumber>/g, '<SequenceNumber>80$1</SequenceNumber>');
    const denied = decisions(await post(unknown));
    expect(denied).toHaveLength(8);
    for (const d of denied)
      expect(d).toMatch(
        new RegExp(
          String.raw`^<ReturnDecision [^>]*Decision="denied" Mode="online"[^>]*><Line ` +
            String.raw`[^>]*ApprovedQuantity="0" Code="receipt_not_found"\/><\/ReturnDecision>$`,
        ),
      );

    expect(invariantViolations(w)).toEqual({ overReturned: [], ledgerDrift: [] });
    await a.proc.stop();
  });
});
