import type { Readable } from 'node:stream';

/** One row of a file, validated: what to stage, or what is wrong with it (`column: expected …`). */
export type CheckedRow<Row> = { line: number; row: Row } | { line: number; error: string };

export interface RowBatch<Row> {
  items: CheckedRow<Row>[];
  /** bytes of the body parsed through this batch */
  bytes: number;
}

/** What one kind of import (inventory, sales) brings to the runner. */
export interface ImportKind<Row, Chunk, Totals> {
  readonly kind: 'inventory' | 'sales';
  /** the audit action of each applied chunk */
  readonly action: string;
  /**
   * Reads and validates rows as the body arrives, in batches of at most `batch` rows. A malformed file throws
   * TB_INVALID naming the line.
   */
  read(body: Readable, batch: number): AsyncIterable<RowBatch<Row>>;
  /** A file without a single row: TB_INVALID with this message (undefined: an empty import is fine). */
  readonly emptyMessage?: string;
  /** Applies rows inside the chunk's transaction (the runner owns it); what the chunk did, for its audit entry. */
  apply(rows: { line: number; row: Row }[], importId: string): Chunk;
  /** Audit details of a chunk. */
  chunkDetails(chunk: Chunk): Record<string, unknown>;
  /** The totals with a chunk added (pure: the chunk may still roll back). */
  add(totals: Totals | undefined, chunk: Chunk): Totals;
  /** The answer: what the import did, from its totals. */
  result(totals: Totals | undefined): Record<string, unknown>;
  /** The totals as the last chunk's audit entry records them (counts, no lists of rows). */
  summary(totals: Totals): Record<string, unknown>;
}

export type ImportStateName = 'receiving' | 'checking' | 'applying' | 'imported' | 'refused' | 'stopped' | 'failed';

/** What `GET /v1/admin/imports/:id` shows. */
export interface ImportProgress {
  id: string;
  kind: string;
  actor: string;
  state: ImportStateName;
  startedAt: string;
  finishedAt?: string;
  /** body bytes received so far, and the request's Content-Length when it had one */
  bytesReceived: number;
  bytesExpected?: number;
  /** body bytes checked so far (once it is all received) */
  bytesChecked: number;
  /** rows read and checked so far, and how many of them were bad */
  rowsRead: number;
  badRows: number;
  /** rows to apply (known once the whole file is checked) */
  rows?: number;
  /** rows applied and committed, through which line of the file, in how many transactions */
  applied: number;
  appliedThroughLine?: number;
  transactions: number;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

/** Counts of what an import held at once (for tests and the benchmark; not part of the API). */
export interface ImportStats {
  /** most bytes read from the spool but not yet parsed, seen at any batch */
  maxUnparsedBytes: number;
  /** most rows staged in one batch (a batch is one transaction) */
  maxStagedBatch: number;
  /** most rows applied in one transaction */
  maxRowsPerTx: number;
}

export interface ImportRequest {
  /** chosen by the client (so it can follow the progress while the request runs); a new id otherwise */
  id?: string | undefined;
  actor: string;
  body: Readable;
  bytesExpected?: number | undefined;
  /** aborted when the client goes away: the import stops at the next chunk boundary */
  signal?: AbortSignal;
}

export interface ImportsOptions {
  /** rows per staging batch and per applying transaction (default 2000) */
  chunkRows?: number;
  /** largest body accepted (default 256 MiB) */
  maxBytes?: number;
  /** imports running at once (default 2) */
  maxRunning?: number;
}

/** What the checking staged: batches of at most `chunkRows` rows, each to be one transaction. */
export interface Staged {
  batches: number;
  rows: number;
}

/** Why an import stopped before its end: the client went away, or the hub is stopping. */
export class Stopped extends Error {}
