import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TbCodes, type RegisterReply } from '@tillbridge/shared';
import { DelimitedCodec, FixedCodec, loadProfile } from '../src/gateway/codecs/records/index.js';
import { toCanonical } from '../src/gateway/canonical.js';
import type { Codec, DecodeResult } from '../src/gateway/types.js';
import { ACME_SALE } from './support/acme-frames.js';

const acme = new DelimitedCodec(
  loadProfile(new URL('../../installers/profiles/acme-ecr-400-delimited.json', import.meta.url).pathname),
);
const contoso = new FixedCodec(
  loadProfile(new URL('../../installers/profiles/contoso-fixed-80.json', import.meta.url).pathname),
);
const CODECS: [string, Codec][] = [
  ['acme (delimited)', acme],
  ['contoso (fixed)', contoso],
];
const RUNS = 400;

const rec = (...parts: string[]) => parts.join('').padEnd(80, ' ');
const CONTOSO_SALE = [
  rec('SH', '0007', '0123', '20261127101500', 'S07-0123'.padEnd(20), 'GBP'),
  rec('SL', '001', 'TEE-BLUE-M'.padEnd(20), '00002000', '000001999'),
  rec('SL', '002', 'BANANAS'.padEnd(20), '00000420', '000000349'),
  rec('ST', '02', '000004146', '4111111111111111'),
].join('');

/** Decoding never throws, and says either messages (each with an id) or a decode error code. */
function wellFormed(r: DecodeResult): void {
  if (r.kind === 'messages') {
    expect(r.messages.length).toBeGreaterThan(0);
    for (const m of r.messages) {
      expect(typeof (m as { id?: unknown }).id).toBe('string');
      expect(() => toCanonical(m)).not.toThrow();
    }
  } else {
    expect([TbCodes.MALFORMED, TbCodes.INVALID]).toContain(r.code);
    expect(r.message.length).toBeLessThan(300);
  }
}

/** Any byte, with the ones the formats care about drawn often. */
const anyByte = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 4 },
  { arbitrary: fc.constantFrom(...Buffer.from('|0123456789 SLTRCXQPHD\r')), weight: 3 },
);
const bytes = fc.array(anyByte, { maxLength: 600 }).map((a) => Buffer.from(a));
/** A golden frame with bytes replaced, inserted, or cut away. */
const mutated = (golden: string) =>
  fc
    .tuple(
      fc.array(fc.tuple(fc.nat(), anyByte, fc.constantFrom('set', 'insert', 'delete')), { maxLength: 6 }),
      fc.nat(),
    )
    .map(([edits, cut]) => {
      const b = [...Buffer.from(golden, 'latin1')];
      for (const [at, v, op] of edits) {
        const i = at % (b.length + 1);
        if (op === 'set' && i < b.length) b[i] = v;
        else if (op === 'insert') b.splice(i, 0, v);
        else b.splice(i, 1);
      }
      return Buffer.from(cut % 5 === 0 ? b.slice(0, cut % (b.length + 1)) : b);
    });

describe('record codecs never throw, whatever arrives', () => {
  for (const [name, codec] of CODECS) {
    it(`${name}: arbitrary bytes`, () => {
      fc.assert(
        fc.property(bytes, (b) => wellFormed(codec.decode(b))),
        { numRuns: RUNS },
      );
    });
  }

  it('acme: its golden sale with bytes changed, added or cut', () => {
    fc.assert(
      fc.property(mutated(ACME_SALE), (b) => wellFormed(acme.decode(b))),
      // a frame a CI run found (field 2, the id, blank): kept so every run tries it
      { numRuns: RUNS, examples: [[Buffer.from(ACME_SALE.replace('S|000123|', 'S||000123\0'), 'latin1')]] },
    );
  });

  it('contoso: its golden sale with bytes changed, added or cut', () => {
    fc.assert(
      fc.property(mutated(CONTOSO_SALE), (b) => wellFormed(contoso.decode(b))),
      { numRuns: RUNS },
    );
  });

  it('an error never repeats the value it refused', () => {
    const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{9}$/);
    fc.assert(
      fc.property(token, fc.integer({ min: 8, max: 22 }), (t, field) => {
        const parts = ACME_SALE.split('|');
        parts[field - 1] = t;
        const r = acme.decode(Buffer.from(parts.join('|'), 'latin1'));
        if (r.kind === 'error') expect(r.message).not.toContain(t);
        else expect(JSON.stringify(r.messages)).toContain(t); // a text field (sku, or a PAN the canonical step refuses)
      }),
      { numRuns: RUNS },
    );
  });
});

/** Any text, and often text made of the characters a record format cares about. */
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({
    unit: fc.constantFrom('|', ';', '"', '\r', '\n', '\x02', '\x03', '\x1e', 'a', '1', ' ', 'é', '€', '\ud800'),
    maxLength: 40,
  }),
);
const num = fc.oneof(fc.integer(), fc.double(), fc.integer({ min: 0, max: 999 }));
const replies: fc.Arbitrary<RegisterReply> = fc.oneof(
  fc.record({ type: fc.constant('ack' as const), id: text }),
  fc.record({
    type: fc.constant('error' as const),
    id: fc.option(text, { nil: undefined }),
    code: fc.oneof(text, fc.constantFrom(...Object.values(TbCodes))),
    message: text,
  }),
  fc.record({
    type: fc.constant('return.decision' as const),
    id: text,
    authorization: text,
    decision: fc.constantFrom('approved' as const, 'denied' as const),
    mode: fc.constantFrom('online' as const, 'offline' as const),
    reason: fc.option(text, { nil: undefined }),
    lines: fc.array(fc.record({ line: num, approvedQty: num, code: text }), { maxLength: 5 }),
  }),
  fc.record({
    type: fc.constant('receipt' as const),
    id: text,
    receipt: text,
    found: fc.boolean(),
    source: fc.constantFrom('hub' as const, 'local' as const),
    lines: fc.array(fc.record({ line: num, sku: text, qty: num, unitPrice: num, returnable: num }), { maxLength: 5 }),
  }),
);
const context = fc.option(
  fc.record({
    records: fc.array(fc.option(fc.record({ till: text, tran: text }), { nil: undefined }), { maxLength: 3 }),
  }),
  { nil: undefined },
);

describe('record codecs write every reply within their layout', () => {
  it('acme: one record, its separators never shifted by a value, no control bytes', () => {
    fc.assert(
      fc.property(replies, (r) => {
        const out = acme.encode([r]);
        expect(out.some((b) => b < 0x20 || b === 0x7f)).toBe(false);
        const f = out.toString('latin1').split('|');
        // A|id, E|id|code|message, D|id|auth|decision|mode|reason|n|{3 fields}×n, P|id|receipt|found|n|{5 fields}×n
        const expected: Record<string, number> = { A: 2, E: 4, D: 7 + 3 * Number(f[6]), P: 5 + 5 * Number(f[4]) };
        expect(f.length).toBe(expected[f[0]!]);
        // each reply is written with its own record, or (a number too wide) as an error record
        expect(f[0]).toBe(f[0] === 'E' ? 'E' : { ack: 'A', 'return.decision': 'D', receipt: 'P', error: 'E' }[r.type]);
      }),
      { numRuns: RUNS },
    );
  });

  it('contoso: whole 80-byte ASCII records, with or without context', () => {
    fc.assert(
      fc.property(fc.array(replies, { minLength: 1, maxLength: 3 }), context, (rs, ctx) => {
        const out = contoso.encode(rs, ctx);
        expect(out.length % 80).toBe(0);
        expect(out.length).toBeGreaterThanOrEqual(80 * rs.length);
        expect(out.every((b) => b >= 0x20 && b < 0x7f)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
