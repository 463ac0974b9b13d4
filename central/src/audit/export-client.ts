import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { AdminClient } from '../cli/admin-client.js';
import { CSV_HEADER, formatEntry, type ExportFormat } from './export-format.js';
import { auditEntries } from '../http/contract/audit.js';

export interface ExportOptions {
  format: ExportFormat;
  since?: string;
  until?: string;
  store?: string;
  /** Entries per admin API request (default 2000). */
  pageSize?: number;
  signal?: AbortSignal;
  /** Called after each page: entries written so far, and the estimate of the whole when known. */
  onProgress?: (done: number, total: number | undefined) => void;
}

export interface ExportSummary {
  entries: number;
  first: number | null;
  last: number | null;
}

/**
 * Streams the audit log through the admin API into `out`, a page at a time (one page in memory
 * at either end), waiting for `out` to drain. Stops at the chain's head as of the first page, so
 * an export of a busy hub ends.
 */
export async function exportAudit(
  client: Pick<AdminClient, 'request'>,
  out: Writable,
  opts: ExportOptions,
): Promise<ExportSummary> {
  const pageSize = opts.pageSize ?? 2000;
  const { since, until, store } = opts;
  if (opts.format === 'csv') await write(out, CSV_HEADER);
  let after: number | undefined;
  let stopAt: number | undefined;
  let total: number | undefined;
  const s: ExportSummary = { entries: 0, first: null, last: null };
  for (;;) {
    opts.signal?.throwIfAborted();
    const page = await client.request(auditEntries, { query: { since, until, store, after, limit: pageSize } });
    const head = (stopAt ??= page.head);
    total ??= page.estimate;
    const entries = page.entries.filter((e) => e.id <= head);
    const [first] = entries;
    const last = entries.at(-1);
    if (first && last) {
      await write(out, entries.map((e) => formatEntry(e, opts.format)).join(''));
      s.first ??= first.id;
      s.last = last.id;
      s.entries += entries.length;
    }
    opts.onProgress?.(s.entries, total);
    if (page.next === null || page.next >= stopAt || entries.length < page.entries.length) return s;
    after = page.next;
  }
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}
