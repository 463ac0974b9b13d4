import { createReadStream, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { TbCodes, TbError } from '@tillbridge/shared';
import { ChainWalker, range } from './chain-walker.js';
import { verifyCheckpointFile, type CheckpointBody, type TrustAnchor } from './checkpoint-file.js';
import { readExport, type ExportRecord } from './export-read.js';

export interface CheckpointSummary {
  seq: number;
  id: number;
  at: string;
  fingerprint: string;
  /** Whether the key was checked against one the operator trusts (--public-key, --fingerprint). */
  pinned: boolean;
}

export type ExportVerdict =
  | {
      ok: true;
      entries: number;
      from: number;
      to: number;
      head: string;
      /** Entries from..checkpoint head are vouched for by the signature (through the chain links). */
      vouched: number;
      /** Entries after the checkpoint's head: they chain, but no signature covers them yet. */
      after: number;
    }
  | { ok: false; entries: number; firstBad: number; line?: number; problem: string };

export type FilesVerifyResult =
  | (ExportVerdict & { checkpoint: CheckpointSummary })
  | { ok: true; entries: 0; checkpoint: CheckpointSummary; exportChecked: false };

/**
 * Verifies an export against a checkpoint's head, away from the hub: every link and hash
 * recomputes, and the checkpoint's head entry is in the export with the signed hash — which,
 * through the links, vouches for every entry before it. Names the first bad entry.
 */
export async function verifyExport(records: AsyncIterable<ExportRecord>, cp: CheckpointBody): Promise<ExportVerdict> {
  const walker = new ChainWalker({ vouched: (id) => (id === cp.id ? cp.hash : undefined) });
  let seen = false;
  for await (const r of records) {
    if ('error' in r) {
      const firstBad = (walker.lastId ?? 0) + 1;
      return {
        ok: false,
        entries: walker.count,
        firstBad,
        line: r.line,
        problem: `${r.error} (the record after entry ${walker.lastId ?? 'none'})`,
      };
    }
    const p = walker.push(r.entry);
    if (p) return { ok: false, entries: walker.count + 1, line: r.line, ...p };
    if (r.entry.id === cp.id) seen = true;
  }
  const walked = walker.walked();
  if (!walked) return { ok: false, entries: 0, firstBad: cp.id, problem: 'the export holds no entries' };
  const { first: from, last: to, head } = walked;
  if (!seen) {
    if (to < cp.id)
      return {
        ok: false,
        entries: walker.count,
        firstBad: to + 1,
        problem:
          `the export ends at entry ${to} but the checkpoint's head is entry ${cp.id}: ` +
          `${range(to + 1, cp.id)} missing (the export was truncated)`,
      };
    return {
      ok: false,
      entries: walker.count,
      firstBad: from,
      problem:
        `the export starts at entry ${from}, after the checkpoint's head (entry ${cp.id}): ` +
        `use an export that reaches back to it, or a later checkpoint`,
    };
  }
  return {
    ok: true,
    entries: walker.count,
    from,
    to,
    head,
    vouched: cp.id - from + 1,
    after: to - cp.id,
  };
}

export interface VerifyFilesOptions extends TrustAnchor {
  /** The checkpoint file (`audit checkpoint --out`). */
  checkpoint: string;
  /** The export file, or a stream (stdin); without either only the checkpoint is checked. */
  export?: string | Readable;
}

/**
 * `audit verify --checkpoint FILE [--export FILE]`: nothing but the files. Throws TB_AUDIT_BROKEN
 * when the checkpoint must not be believed; returns the export's verdict otherwise.
 */
export async function verifyFiles(opts: VerifyFilesOptions): Promise<FilesVerifyResult> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(opts.checkpoint, 'utf8'));
  } catch (err) {
    throw new TbError(TbCodes.INVALID, `cannot read the checkpoint ${opts.checkpoint}: ${(err as Error).message}`);
  }
  const trust: TrustAnchor = {};
  if (opts.publicKeyPem !== undefined) trust.publicKeyPem = opts.publicKeyPem;
  if (opts.fingerprint !== undefined) trust.fingerprint = opts.fingerprint;
  const { body, fingerprint, pinned } = verifyCheckpointFile(raw, trust);
  const checkpoint: CheckpointSummary = { seq: body.seq, id: body.id, at: body.at, fingerprint, pinned };
  if (opts.export === undefined) return { ok: true, entries: 0, checkpoint, exportChecked: false };
  const source = opts.export;
  const input = typeof source === 'string' ? createReadStream(source) : source;
  const opened = new Promise<void>((resolve, reject) => {
    if (typeof source !== 'string') {
      resolve();
      return;
    }
    input.once('open', () => resolve());
    input.once('error', (err: Error) =>
      reject(new TbError(TbCodes.INVALID, `cannot read the export ${source}: ${err.message}`)),
    );
  });
  await opened;
  const r = await verifyExport(readExport(input), body);
  return { ...r, checkpoint };
}
