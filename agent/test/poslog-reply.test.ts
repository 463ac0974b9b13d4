import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import type { RegisterReply } from '@tillbridge/shared';
import { PoslogCodec, PoslogCodecConfigSchema } from '../src/gateway/codecs/poslog/codec.js';

const GOLDEN = fileURLToPath(new URL('./fixtures/poslog/', import.meta.url));
const codec = (extra: Record<string, unknown> = {}) =>
  new PoslogCodec(PoslogCodecConfigSchema.parse({ type: 'poslog', ...extra }));

/**
 * An independent parser (character references decoded): attributes as @_Name, every element an array, text as #text.
 */
const parser = new XMLParser({
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the XML stack stays as is (docs/development.md)
  htmlEntities: true,
  ignoreAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (_name: string, _path: unknown, _leaf: boolean, isAttribute: boolean) => !isAttribute,
  ignoreDeclaration: false,
});

type El = Record<string, unknown>;
function parseReply(buf: Buffer): El {
  const text = buf.toString('utf8');
  expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
  expect(text).not.toMatch(/[\r\n]/);
  const doc = parser.parse(text) as El;
  const root = (doc.TillbridgeReply as El[])[0]!;
  expect(root['@_xmlns']).toBe('urn:tillbridge:reply:1');
  return root;
}

describe('poslog replies', () => {
  it('answers every message of a document in order, echoing the transaction each reply is for', () => {
    const c = codec();
    const r = c.decode(readFileSync(GOLDEN + 'several-transactions.xml'));
    if (r.kind !== 'messages') throw new Error(r.message);
    const [s1, s2, ret] = r.messages as { id: string }[];
    const replies: RegisterReply[] = [
      { type: 'ack', id: s1!.id },
      {
        type: 'error',
        id: s2!.id,
        code: 'TB_INVALID',
        message: 'lines[0].sku: expected <64 & "short" \'names\'\nsecond line',
      },
      {
        type: 'return.decision',
        id: ret!.id,
        authorization: 'auth-1',
        decision: 'approved',
        mode: 'online',
        lines: [{ line: 2, approvedQty: 0.25, code: 'ok' }],
      },
    ];
    const root = parseReply(c.encode(replies, r.context));
    expect(Object.keys(root).filter((k) => !k.startsWith('@_'))).toEqual(['Ack', 'Error', 'ReturnDecision']);
    const [ack, err, dec] = (['Ack', 'Error', 'ReturnDecision'] as const).map((name) => (root[name] as El[])[0]!);
    expect({ ack, err, dec }).toMatchObject({
      ack: { '@_Id': s1!.id, '@_Receipt': 'S002-1-501-20261127', '@_WorkstationID': '1', '@_SequenceNumber': '501' },
      err: {
        '@_Id': s2!.id,
        '@_Code': 'TB_INVALID',
        '@_SequenceNumber': '503',
        '#text': 'lines[0].sku: expected <64 & "short" \'names\'\nsecond line',
      },
      dec: {
        '@_Id': ret!.id,
        '@_Authorization': 'auth-1',
        '@_Decision': 'approved',
        '@_Mode': 'online',
        '@_Receipt': 'S002-1-501-20261127',
        '@_SequenceNumber': '505',
      },
    });
    expect(dec!.Line).toEqual([{ '@_Number': '2', '@_ApprovedQuantity': '0.25', '@_Code': 'ok' }]);
  });

  it('escapes attribute values and drops characters XML cannot carry', () => {
    const buf = codec().encode([
      { type: 'error', id: 'a"b<c>&\'d\te\u0001f\ud800', code: 'TB_MALFORMED', message: 'x' },
    ]);
    const err = (parseReply(buf).Error as El[])[0]!;
    expect(err['@_Id']).toBe('a"b<c>&\'d\te\uFFFDf\uFFFD');
    expect(buf.toString('utf8')).toContain('Id="a&quot;b&lt;c&gt;&amp;&apos;d&#9;e\uFFFDf\uFFFD"');
  });

  it('encodes an error without id or context, and a denied decision with its reason', () => {
    const c = codec();
    const root = parseReply(
      c.encode([
        { type: 'error', code: 'TB_FRAME_TOO_LARGE', message: 'frame longer than 65536 bytes discarded' },
        {
          type: 'return.decision',
          id: 'r9',
          authorization: 'a9',
          decision: 'denied',
          mode: 'offline',
          reason: 'receipt unknown offline',
          lines: [{ line: 1, approvedQty: 0, code: 'receipt_unknown_offline' }],
        },
      ]),
    );
    expect(root.Error).toEqual([
      { '@_Code': 'TB_FRAME_TOO_LARGE', '#text': 'frame longer than 65536 bytes discarded' },
    ]);
    expect((root.ReturnDecision as El[])[0]).toMatchObject({
      '@_Decision': 'denied',
      '@_Mode': 'offline',
      '@_Reason': 'receipt unknown offline',
    });
    expect(((root.ReturnDecision as El[])[0]!.Line as El[])[0]).toEqual({
      '@_Number': '1',
      '@_ApprovedQuantity': '0',
      '@_Code': 'receipt_unknown_offline',
    });
  });

  it('encodes a receipt reply with decimal prices in the configured minor unit', () => {
    const receipt: RegisterReply = {
      type: 'receipt',
      id: 'q1',
      receipt: 'S001-7-123-20261127',
      found: true,
      source: 'hub',
      store: 'S001',
      currency: 'EUR',
      at: '2026-11-27T10:15:00+01:00',
      lines: [
        { line: 1, sku: 'TEE-BLUE-M', qty: 2, unitPrice: 1999, returnable: 1 },
        { line: 2, sku: 'CHEESE-KG', qty: 0.422, unitPrice: 5, returnable: 0.422 },
      ],
    };
    const root = parseReply(codec().encode([receipt]));
    expect((root.Receipt as El[])[0]).toMatchObject({
      '@_Id': 'q1',
      '@_ReceiptNumber': 'S001-7-123-20261127',
      '@_Found': 'true',
      '@_Source': 'hub',
      '@_Store': 'S001',
      '@_CurrencyCode': 'EUR',
      '@_DateTime': '2026-11-27T10:15:00+01:00',
    });
    expect((root.Receipt as El[])[0]!.Line).toEqual([
      { '@_Number': '1', '@_ItemID': 'TEE-BLUE-M', '@_Quantity': '2', '@_UnitPrice': '19.99', '@_Returnable': '1' },
      {
        '@_Number': '2',
        '@_ItemID': 'CHEESE-KG',
        '@_Quantity': '0.422',
        '@_UnitPrice': '0.05',
        '@_Returnable': '0.422',
      },
    ]);
    const yen = parseReply(codec({ minorUnitDigits: 0 }).encode([receipt]));
    expect(((yen.Receipt as El[])[0]!.Line as El[])[0]!['@_UnitPrice']).toBe('1999');
    const missing = parseReply(
      codec().encode([{ type: 'receipt', id: 'q2', receipt: 'NOPE', found: false, source: 'local', lines: [] }]),
    );
    expect(missing.Receipt).toEqual([
      { '@_Id': 'q2', '@_ReceiptNumber': 'NOPE', '@_Found': 'false', '@_Source': 'local' },
    ]);
  });

  it("the reply document reads back through the codec's own XML reader too", () => {
    const buf = codec().encode([{ type: 'ack', id: 'x' }]);
    expect(codec().decode(buf)).toMatchObject({
      kind: 'error',
      code: 'TB_INVALID',
      message: 'expected a POSLog or DigitalReceipt document',
    });
  });
});
