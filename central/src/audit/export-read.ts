import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parse, type CsvError, type InfoField } from 'csv-parse';
import { EXPORT_FIELDS, type ExportedEntry } from './entry.js';

/** One record of an export file: the entry, or why the record is not one. */
export type ExportRecord = { line: number; entry: ExportedEntry } | { line: number; error: string };

const OPTIONAL = new Set<string>(['origin']);
const NULLABLE = new Set<string>(['store', 'register', 'origin', 'resource']);

/**
 * Reads an export (JSON lines or CSV, told apart by the first byte) one record at a time,
 * without holding the file in memory. An export without `origin` (older hubs) reads as origin null.
 */
export async function* readExport(input: Readable): AsyncGenerator<ExportRecord> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const first = await it.next();
  if (first.done) return;
  const head = Buffer.isBuffer(first.value) ? first.value : Buffer.from(first.value);
  const rest = Readable.from(
    (async function* () {
      yield head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    })(),
  );
  const start = head.toString('utf8').trimStart();
  yield* start.startsWith('{') ? readJsonLines(rest) : readCsv(rest);
}

async function* readJsonLines(input: Readable): AsyncGenerator<ExportRecord> {
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line++;
    if (text.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      yield { line, error: `line ${line} is not JSON` };
      continue;
    }
    const r = toEntry(v);
    yield typeof r === 'string' ? { line, error: `line ${line}: ${r}` } : { line, entry: r };
  }
}

async function* readCsv(input: Readable): AsyncGenerator<ExportRecord> {
  // unquoted empty → null; a quoted field → the string as written
  const cast = (value: string, ctx: InfoField): string | null => (ctx.quoting ? value : value === '' ? null : value);
  // A record that is not CSV fails csv-parse's whole chunk, and the records read before it with it: skip it instead
  // and report it in its place, after the records before it (the header first).
  const unread: { line: number; error: string }[] = [];
  const onSkip = (err: CsvError | undefined): undefined => {
    const line = typeof err?.lines === 'number' ? err.lines : -1;
    unread.push({ line, error: `line ${line} is not CSV: ${err?.message ?? 'unreadable'}` });
    return undefined;
  };
  const options = { cast, info: true, relax_column_count: true, skip_records_with_error: true, on_skip: onSkip };
  const parser = input.pipe(parse(options));
  let columns: string[] | undefined;
  try {
    for await (const rec of parser as AsyncIterable<{ record: (string | null)[]; info: { lines: number } }>) {
      const line = rec.info.lines;
      for (let u = unread[0]; u && u.line < line; u = unread[0]) {
        unread.shift();
        yield u;
      }
      if (!columns) {
        const header = rec.record.map((c) => c ?? '');
        columns = header;
        const missing = EXPORT_FIELDS.filter((f) => !OPTIONAL.has(f) && !header.includes(f));
        if (missing.length > 0) {
          yield { line, error: `the CSV header lacks ${missing.join(', ')}: not an audit export` };
          return;
        }
        continue;
      }
      if (rec.record.length !== columns.length) {
        yield { line, error: `line ${line} has ${rec.record.length} fields, the header ${columns.length}` };
        continue;
      }
      const o: Record<string, unknown> = {};
      columns.forEach((c, i) => (o[c] = rec.record[i]));
      o.id = typeof o.id === 'string' && /^\d+$/.test(o.id) ? Number(o.id) : o.id;
      const r = toEntry(o);
      yield typeof r === 'string' ? { line, error: `line ${line}: ${r}` } : { line, entry: r };
    }
    yield* unread;
  } catch (err) {
    yield { line: -1, error: `the CSV does not parse: ${(err as Error).message}` };
  }
}

/** Checks the shape of a parsed record; returns the entry or what is wrong with it. */
function toEntry(parsed: unknown): ExportedEntry | string {
  if (!parsed || typeof parsed !== 'object') return 'not an audit entry';
  const o = parsed as Record<string, unknown>;
  if (!Number.isInteger(o.id) || (o.id as number) < 1) return 'id: expected a positive integer';
  for (const f of EXPORT_FIELDS) {
    if (f === 'id') continue;
    const v = o[f];
    if (v === undefined && OPTIONAL.has(f)) continue;
    if (typeof v === 'string') continue;
    if (v === null && NULLABLE.has(f)) continue;
    return `${f}: expected ${NULLABLE.has(f) ? 'text or null' : 'text'} (entry ${String(o.id)})`;
  }
  const s = (f: string): string | null => (o[f] as string | null | undefined) ?? null;
  const text = (f: string): string => {
    const v = s(f);
    if (v === null) throw new Error(`audit export: ${f} was checked to be text`);
    return v;
  };
  return {
    id: o.id as number,
    at: text('at'),
    actor: text('actor'),
    action: text('action'),
    store: s('store'),
    register: s('register'),
    outcome: text('outcome'),
    origin: s('origin'),
    resource: s('resource'),
    details: text('details'),
    prev_hash: text('prev_hash'),
    hash: text('hash'),
  };
}
