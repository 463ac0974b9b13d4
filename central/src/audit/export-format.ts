import { EXPORT_FIELDS, fromRow, type ExportedEntry } from './entry.js';

export type ExportFormat = 'jsonl' | 'csv';

export function isExportFormat(v: string): v is ExportFormat {
  return v === 'jsonl' || v === 'csv';
}

/** The first line of a CSV export. */
export const CSV_HEADER = `${EXPORT_FIELDS.join(',')}\r\n`;

/**
 * One CSV field (RFC 4180). A null is an empty unquoted field; a string is quoted when it is
 * empty or holds a comma, quote, CR or LF, or starts or ends with a space — so "" (empty
 * string) and nothing (null) stay apart, and every value reads back byte for byte.
 */
export function csvField(v: string | number | null): string {
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  return v === '' || /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** One entry as a line of the export (JSON keys and CSV columns in EXPORT_FIELDS order). */
export function formatEntry(e: ExportedEntry, format: ExportFormat): string {
  const x = fromRow(e);
  if (format === 'jsonl') return `${JSON.stringify(x)}\n`;
  return `${EXPORT_FIELDS.map((f) => csvField(x[f])).join(',')}\r\n`;
}
