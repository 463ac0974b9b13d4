import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TbCodes } from '@tillbridge/shared';
import { readLines } from '../src/imports/line-reader.js';
import { readCsv } from '../src/imports/csv-reader.js';
import { BodyStopped, Spool } from '../src/imports/spool.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The bytes cut into pieces of `size`, as a socket might deliver them. */
function pieces(bytes: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

describe('readLines', () => {
  it(
    'numbers every line (blank ones too), strips CR and the BOM, ' + 'and keeps characters cut between chunks whole',
    async () => {
      const bytes = Buffer.from('\uFEFF{"a":"é€"}\r\n\n{"b":2}\n{"c":"ü"}', 'utf8');
      for (const size of [1, 2, 3, 5, 64]) {
        const batches = await collect(readLines(pieces(bytes, size), 1000));
        expect(batches.flatMap((b) => b.lines)).toEqual([
          { line: 1, text: '{"a":"é€"}' },
          { line: 2, text: '' },
          { line: 3, text: '{"b":2}' },
          { line: 4, text: '{"c":"ü"}' },
        ]);
        expect(batches[batches.length - 1]!.bytes).toBe(bytes.length);
      }
    },
  );

  it('refuses a line longer than the limit, naming it, without holding the rest of the file', async () => {
    const long = Buffer.from(`ok\n${'x'.repeat(5000)}\nnever read\n`);
    await expect(collect(readLines(pieces(long, 100), 1000))).rejects.toMatchObject({
      code: TbCodes.INVALID,
      message: expect.stringMatching(/^line 2: longer than 1000 bytes/),
    });
  });
});

describe('readCsv', () => {
  const opts = { columns: ['store', 'sku', 'qty'], batch: 2, maxRecordChars: 200 };

  it('hands records on in batches of at most `batch`, each with the line it ends on', async () => {
    const text = '\uFEFFsku, Store ,qty,note\r\nA,S1,3,x\r\n\r\nB,"S\n1",0.5,y\r\nC,S2,1,z\r\n';
    const batches = await collect(readCsv(Readable.from([Buffer.from(text)]), opts));
    expect(batches.map((b) => b.records.length)).toEqual([2, 1]); // all three held at once: two batches
    expect(batches[1]!.bytes).toBe(Buffer.byteLength(text));
    const trickled = await collect(readCsv(pieces(Buffer.from(text), 7), opts));
    expect(trickled.every((b) => b.records.length <= 2)).toBe(true);
    expect(trickled.flatMap((b) => b.records)).toEqual(batches.flatMap((b) => b.records));
    expect(batches.flatMap((b) => b.records)).toEqual([
      { line: 2, record: { sku: 'A', store: 'S1', qty: '3', note: 'x' } },
      { line: 5, record: { sku: 'B', store: 'S\n1', qty: '0.5', note: 'y' } },
      { line: 6, record: { sku: 'C', store: 'S2', qty: '1', note: 'z' } },
    ]);
  });

  it('checks the header before any record', async () => {
    await expect(collect(readCsv(Readable.from(['store,sku\nS1,A\n']), opts))).rejects.toMatchObject({
      code: TbCodes.INVALID,
      message: 'line 1: the header must name the columns store,sku,qty (missing "qty")',
    });
  });

  it('names the line of malformed CSV', async () => {
    await expect(collect(readCsv(Readable.from(['store,sku,qty\nS1,A,1\nS1,B,2,9\n']), opts))).rejects.toMatchObject({
      code: TbCodes.INVALID,
      message: expect.stringMatching(/^line 3: not valid CSV: /),
    });
    await expect(collect(readCsv(Readable.from(['store,sku,qty\nS1,A,1\nS1,"B,2\n']), opts))).rejects.toMatchObject({
      code: TbCodes.INVALID,
      message: expect.stringMatching(/not valid CSV: Quote Not Closed/),
    });
  });
});

describe('Spool', () => {
  const fill = async (s: Spool, text: string, max = 1 << 20): Promise<void> =>
    s.fill(Readable.from([Buffer.from(text)]), max, () => undefined, new AbortController().signal);

  it('keeps the body encrypted on disk and gives it back whole', async () => {
    const s = new Spool();
    try {
      await fill(s, 'store,sku,qty\nS1,A,4111111111111111\n');
      expect(readFileSync(s.path).includes('4111111111111111')).toBe(false);
      expect(Buffer.concat(await collect(s.open())).toString()).toBe('store,sku,qty\nS1,A,4111111111111111\n');
    } finally {
      s.remove();
    }
    expect(existsSync(s.path)).toBe(false);
  });

  it('refuses a spool changed on disk before anything of it is used', async () => {
    const s = new Spool();
    try {
      await fill(s, 'x'.repeat(1000));
      const b = readFileSync(s.path);
      b[500] = b[500]! ^ 1;
      writeFileSync(s.path, b);
      await expect(collect(s.open())).rejects.toThrow(/authenticate/);
    } finally {
      s.remove();
    }
  });

  it('refuses a body over the limit, and leaves no file behind', async () => {
    const s = new Spool();
    const filling = fill(s, 'x'.repeat(1000), 100);
    // the file exists as soon as the filling starts: remove() after a refusal can never run before it is made
    expect(existsSync(s.path)).toBe(true);
    try {
      await expect(filling).rejects.toMatchObject({ code: TbCodes.FRAME_TOO_LARGE });
    } finally {
      s.remove();
    }
    await new Promise((r) => setImmediate(r));
    expect(existsSync(s.path)).toBe(false);
  });

  it('makes no file for a body whose import was stopped before it began', async () => {
    const s = new Spool();
    const stop = new AbortController();
    stop.abort();
    const body = Readable.from([Buffer.from('x')]);
    await expect(s.fill(body, 100, () => undefined, stop.signal)).rejects.toBeInstanceOf(BodyStopped);
    expect(body.destroyed).toBe(true);
    expect(existsSync(s.path)).toBe(false);
  });
});
