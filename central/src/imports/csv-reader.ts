import type { Readable } from 'node:stream';
import { CsvError, parse, type Info } from 'csv-parse';
import { TbCodes, TbError } from '@tillbridge/shared';

export interface CsvRecord {
  /** the line the record ends on (1-based; the header is line 1) */
  line: number;
  /** column name (trimmed, lower case) → value (trimmed) */
  record: Record<string, string>;
}

export interface CsvBatch {
  records: CsvRecord[];
  /** bytes of the input parsed up to the end of the last record of this batch */
  bytes: number;
}

export interface CsvOptions {
  /** the columns the header must name (any order; others are ignored) */
  columns: string[];
  /** records per batch */
  batch: number;
  /** the longest record, in characters */
  maxRecordChars: number;
}

/**
 * Parses CSV as it arrives (csv-parse's streaming parser): a header line, then records, handed
 * on in batches of what the parser holds, at most `batch` each. The header is checked before any
 * record; malformed CSV is a TB_INVALID naming the line. Backpressure holds: the parser reads
 * more of the input only as batches are taken.
 */
export async function* readCsv(input: Readable, opts: CsvOptions): AsyncGenerator<CsvBatch> {
  const parser = parse({
    bom: true,
    trim: true,
    skip_empty_lines: true,
    info: true,
    max_record_size: opts.maxRecordChars,
    columns: (header: string[]) => {
      const names = header.map((c) => c.trim().toLowerCase());
      const missing = opts.columns.filter((c) => !names.includes(c));
      if (missing.length > 0) {
        throw new TbError(
          TbCodes.INVALID,
          `line 1: the header must name the columns ${opts.columns.join(',')} ` +
            `(missing ${missing.map((m) => `"${m}"`).join(', ')})`,
        );
      }
      return names;
    },
  });
  input.on('error', (err) => parser.destroy(err));
  input.pipe(parser);
  let failure: Error | undefined;
  parser.on('error', (err) => (failure = err));
  try {
    for (;;) {
      if (failure !== undefined) throw failure;
      // what the parser holds now, up to a batch: progress shows as rows arrive, however few
      const records: CsvRecord[] = [];
      let bytes = 0;
      let item: { record: Record<string, string>; info: Info } | null;
      while (records.length < opts.batch && (item = parser.read() as typeof item) !== null) {
        records.push({ line: item.info.lines, record: item.record });
        bytes = item.info.bytes;
      }
      if (records.length > 0) {
        yield { records, bytes };
        continue;
      }
      if (parser.readableEnded) break;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          parser.off('readable', wake).off('end', wake).off('error', wake);
          resolve();
        };
        parser.on('readable', wake).on('end', wake).on('error', wake);
      });
    }
  } catch (err) {
    if (err instanceof TbError) throw err;
    // every csv-parse error: INVALID_OPENING_QUOTE has no CSV_ prefix (it was a TB_INTERNAL, 500)
    if (err instanceof CsvError) {
      throw new TbError(
        TbCodes.INVALID,
        `line ${(err as unknown as { lines?: number }).lines ?? '?'}: not valid CSV: ${err.message}`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    input.unpipe(parser);
    parser.destroy();
  }
}
