import { vendorFixtures } from '@tillbridge/scripts/lib/fixtures';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toCanonical } from '../src/gateway/canonical.js';
import { PoslogCodec, PoslogCodecConfigSchema } from '../src/gateway/codecs/poslog/codec.js';
import type { DecodeResult } from '../src/gateway/types.js';

/**
 * Whatever bytes arrive, decode answers with a DecodeResult — it never throws. The work it does is
 * bounded by shape (nesting depth, transactions per document: see 'hostile shapes' below), not
 * measured here: timing belongs to bench/.
 */
const dirs = [vendorFixtures('poslog'), fileURLToPath(new URL('./fixtures/poslog/', import.meta.url))];
const docs = dirs.flatMap((d) =>
  readdirSync(d)
    .filter((f) => f.endsWith('.xml'))
    .map((f) => readFileSync(join(d, f))),
);
// every return link that names no business day finds recorded sales to choose from, with and without a time
const known = {
  byPrefix: (prefix: string) => [
    { receipt: `${prefix}-20260314`, at: '2026-03-15T00:01:10-04:00' },
    { receipt: `${prefix}-20260316`, at: null },
    { receipt: prefix, at: 'not a time' },
  ],
};
const codec = new PoslogCodec(
  PoslogCodecConfigSchema.parse({ type: 'poslog', defaultCurrency: 'EUR', timeZone: 'Europe/Stockholm' }),
  { known },
);

function checked(payload: Buffer): DecodeResult {
  const r = codec.decode(payload);
  if (r.kind === 'error') {
    expect(typeof r.code).toBe('string');
    expect(r.code).toMatch(/^TB_[A-Z_]+$/);
    expect(r.message.length).toBeLessThan(300);
  } else {
    expect(r.kind).toBe('messages');
    expect(r.messages.length).toBeGreaterThan(0);
    for (const m of r.messages) toCanonical(structuredClone(m)); // the gateway's next step must not throw either
  }
  return r;
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }),
  }),
  fc.record({
    kind: fc.constant('text' as const),
    at: fc.nat(),
    text: fc.constantFrom(
      '-',
      '0.',
      '9999999999999999',
      '<![CDATA[',
      ']]>',
      '</',
      '<Sale>',
      '&amp;',
      '&#0;',
      ' xmlns:x="u"',
      'ReasonCode="Resume"',
      '=',
      '"',
      '\u0000',
      '\uFEFF',
    ),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(doc: Buffer, ms: Mutation[]): Buffer {
  let b = doc;
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip') {
      b = Buffer.from(b);
      if (b.length > 0) b[at] = m.byte;
    } else if (m.kind === 'cut') b = b.subarray(0, at);
    else if (m.kind === 'drop') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(m.text, 'utf8'), b.subarray(at)]);
  }
  return b;
}

describe('poslog decode never throws', () => {
  it('on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        checked(Buffer.from(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('on arbitrary text that starts like XML', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.string({ maxLength: 400 }), (a, b) => {
        checked(Buffer.from(`<POSLog>${a}<Transaction>${b}</Transaction></POSLog>`));
      }),
      { numRuns: 300 },
    );
  });

  it('on every fixture, mutated', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: docs.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (i, ms) => {
          checked(mutate(docs[i]!, ms));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('on deep nesting, many transactions and a large document', () => {
    expect(checked(Buffer.from('<POSLog>' + '<a>'.repeat(5000) + '</a>'.repeat(5000) + '</POSLog>')).kind).toBe(
      'error',
    );
    const tx = /<Transaction>[\s\S]*<\/Transaction>/.exec(
      readFileSync(join(dirs[1]!, 'no-namespace-sale.xml'), 'utf8'),
    )![0];
    const many = (n: number) =>
      Buffer.from(
        `<POSLog>${Array.from({ length: n }, (_, k) => tx.replace('000123', String(k + 1))).join('')}</POSLog>`,
      );
    const r = checked(many(200));
    expect(r.kind === 'messages' && r.messages.length).toBe(200);
    expect(checked(many(201))).toMatchObject({ kind: 'error', code: 'TB_INVALID' });
    const big = Buffer.from(`<POSLog>${tx}<!--${'x'.repeat(1_000_000)}--></POSLog>`);
    expect(checked(big).kind).toBe('messages');
  });
});

describe('poslog decode refuses hostile shapes by their size, not by how long they take', () => {
  it('nesting far deeper than any POSLog is an error, not a stack overflow', () => {
    for (const depth of [1_000, 100_000]) {
      const doc = Buffer.from(
        `<POSLog><Transaction>${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}</Transaction></POSLog>`,
      );
      const r = checked(doc);
      expect(r).toMatchObject({ kind: 'error' });
    }
  });

  it('more transactions in one document than configured is one error for the document', () => {
    const one =
      '<Transaction><RetailStoreID>S1</RetailStoreID><WorkstationID>1</WorkstationID>' +
      '<SequenceNumber>1</SequenceNumber></Transaction>';
    const r = checked(Buffer.from(`<POSLog>${one.repeat(201)}</POSLog>`));
    expect(r).toMatchObject({ kind: 'error', message: 'more than 200 transactions in one document' });
  });
});
