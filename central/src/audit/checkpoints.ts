import { sign } from 'node:crypto';
import type { HubStorage, Statement } from '../storage/index.js';
import { TbCodes, TbError, type Logger } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';
import {
  CHECKPOINT_FORMAT,
  parsePayload,
  payloadOf,
  signatureValid,
  type CheckpointBody,
  type CheckpointFile,
} from './checkpoint-file.js';
import { loadOrCreateSigningKey, loadSigningKey, signingKeyPath, type SigningKey } from './signing-key.js';

const DAY = 86_400_000;

/** A stored checkpoint. `payload` and `signature` are what was signed; the other fields mirror it. */
export interface CheckpointRecord {
  seq: number;
  /** The head entry's id. */
  id: number;
  hash: string;
  at: string;
  entries: number;
  payload: string;
  signature: string;
  publicKey: string;
  fingerprint: string;
}

export interface CheckpointOptions {
  /** A checkpoint once this many entries were written since the last one (default 1000). */
  everyEntries?: number;
  /** …or once this long has passed since the last one and the chain grew (default a day). */
  everyMs?: number;
}

/** A checkpoint as stored. */
export interface CheckpointRow {
  seq: number;
  entry_id: number;
  entry_hash: string;
  entries: number;
  at: string;
  payload: string;
  signature: string;
  public_key: string;
  fingerprint: string;
}
const toRecord = (r: CheckpointRow): CheckpointRecord => ({
  seq: r.seq,
  id: r.entry_id,
  hash: r.entry_hash,
  at: r.at,
  entries: r.entries,
  payload: r.payload,
  signature: r.signature,
  publicKey: r.public_key,
  fingerprint: r.fingerprint,
});

/**
 * Signed checkpoints of the audit chain's head: every 1000 entries and daily (`maybeCheckpoint`,
 * called after appends and from the hub's timer), or on request (`create`). A checkpoint file
 * lets anyone verify an export away from the hub; a checkpoint also anchors the chain once
 * retention has pruned the entries before it.
 */
export class AuditCheckpoints {
  private key: SigningKey | undefined;
  private readonly head: Statement;
  private readonly first: Statement;
  private readonly insert: Statement;
  private readonly lastStmt: Statement;
  private readonly bySeq: Statement;
  private readonly byEntry: Statement;
  private readonly listStmt: Statement;
  private readonly fromEntry: Statement;
  private readonly dropBelow: Statement;
  private readonly everyEntries: number;
  private readonly everyMs: number;

  constructor(
    private readonly storage: HubStorage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly dataDir: string,
    private readonly log: Logger,
    opts: CheckpointOptions = {},
  ) {
    const db = storage.db;
    this.everyEntries = opts.everyEntries ?? 1000;
    this.everyMs = opts.everyMs ?? DAY;
    this.head = db.prepare(`SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1`);
    this.first = db.prepare(`SELECT at FROM audit ORDER BY id LIMIT 1`);
    this.insert = db.prepare(
      `INSERT INTO audit_checkpoints (seq, entry_id, entry_hash, entries, at, payload,
         signature, public_key, fingerprint)
       VALUES (@seq, @entry_id, @entry_hash, @entries, @at, @payload, @signature, @public_key, @fingerprint)`,
    );
    this.lastStmt = db.prepare(`SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`);
    this.bySeq = db.prepare(`SELECT * FROM audit_checkpoints WHERE seq = ?`);
    this.byEntry = db.prepare(`SELECT * FROM audit_checkpoints WHERE entry_id = ?`);
    this.listStmt = db.prepare(`SELECT * FROM audit_checkpoints WHERE seq < ? ORDER BY seq DESC LIMIT ?`);
    this.fromEntry = db.prepare(`SELECT * FROM audit_checkpoints WHERE entry_id >= ? ORDER BY entry_id LIMIT ?`);
    this.dropBelow = db.prepare(`DELETE FROM audit_checkpoints WHERE entry_id < ?`);
  }

  /**
   * Writes a checkpoint when 1000 entries were written since the last one, or a day passed and
   * the chain grew. Cheap when nothing is due (two indexed reads, no write lock): call it after
   * every applied batch and from the hub's timer. Whether it is due is decided again inside the
   * write transaction (on PostgreSQL, under the write lock every hub process takes): of several
   * processes nudged at the same due point, the first writes the checkpoint and the others find it
   * written — one checkpoint per due point.
   */
  maybeCheckpoint(): CheckpointRecord | undefined {
    if (!this.due()) return undefined;
    return this.storage.tx(() =>
      this.due() ? this.write(this.head.get() as { id: number; hash: string }, this.latest()) : undefined,
    );
  }

  private due(): boolean {
    const head = this.head.get() as { id: number; hash: string } | undefined;
    if (!head) return false;
    const last = this.latest();
    const since = last?.id ?? 0;
    if (head.id <= since) return false;
    const sinceAt = last?.at ?? (this.first.get() as { at: string }).at;
    return head.id - since >= this.everyEntries || this.clock.now() - Date.parse(sinceAt) >= this.everyMs;
  }

  /**
   * A checkpoint of the current head now (or the latest, when the chain has not grown since).
   * With `actor` (an operator asking), the request is audited first, so the checkpoint covers it.
   */
  create(actor?: string): CheckpointRecord | undefined {
    return this.storage.tx(() => {
      if (actor) this.audit.append({ actor, action: 'audit.checkpoint', outcome: 'requested', resource: 'audit' });
      const head = this.head.get() as { id: number; hash: string } | undefined;
      if (!head) return undefined;
      const last = this.latest();
      return last && last.id >= head.id ? last : this.write(head, last);
    });
  }

  latest(): CheckpointRecord | undefined {
    const r = this.lastStmt.get() as CheckpointRow | undefined;
    return r ? toRecord(r) : undefined;
  }

  get(seq: number): CheckpointRecord | undefined {
    const r = this.bySeq.get(seq) as CheckpointRow | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** The checkpoint whose head is entry `id`, if any. */
  forEntry(id: number): CheckpointRecord | undefined {
    const r = this.byEntry.get(id) as CheckpointRow | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** Newest first; `before` pages back by seq. */
  list(limit = 50, before = Number.MAX_SAFE_INTEGER): CheckpointRecord[] {
    return (this.listStmt.all(before, limit) as CheckpointRow[]).map(toRecord);
  }

  /** Checkpoints with a head at or after entry `id`, in chain order, a page at a time. */
  *from(id: number, page = 500): Generator<CheckpointRecord> {
    let at = id;
    for (;;) {
      const rows = (this.fromEntry.all(at, page) as CheckpointRow[]).map(toRecord);
      yield* rows;
      const last = rows.at(-1);
      if (rows.length < page || !last) return;
      at = last.id + 1;
    }
  }

  /** Drops the checkpoints whose head is before entry `id` (retention keeps the one anchoring the chain). */
  dropBefore(id: number): number {
    return this.dropBelow.run(id).changes;
  }

  /** The file an operator keeps: checkpoint, signature, public key and its fingerprint. */
  file(r: CheckpointRecord): CheckpointFile {
    return {
      format: CHECKPOINT_FORMAT,
      checkpoint: parsePayload(r.payload),
      payload: r.payload,
      signature: r.signature,
      publicKey: r.publicKey,
      fingerprint: r.fingerprint,
    };
  }

  /** The signing key's public half (made on first use). */
  publicKey(): { publicKey: string; fingerprint: string } {
    const k = this.signingKey();
    return { publicKey: k.publicPem, fingerprint: k.fingerprint };
  }

  /**
   * What a stored checkpoint vouches for, read from its signed payload — or a reason not to
   * believe it: no signing key in the data dir, or a signature that does not verify with it.
   */
  vouched(r: CheckpointRecord): { body: CheckpointBody } | { problem: string } {
    const k = (this.key ??= loadSigningKey(this.dataDir));
    if (!k)
      return {
        problem: `checkpoint #${r.seq} cannot be checked: the hub's audit signing key is missing from ${this.dataDir}`,
      };
    if (!signatureValid(r.payload, r.signature, k.publicKey))
      return { problem: `checkpoint #${r.seq}'s signature does not verify with the hub's key ${k.fingerprint}` };
    const body = parsePayload(r.payload);
    if (body.seq !== r.seq)
      return { problem: `checkpoint #${r.seq} holds the signed payload of checkpoint #${body.seq}` };
    return { body };
  }

  private signingKey(): SigningKey {
    this.key ??= loadOrCreateSigningKey(this.dataDir);
    return this.key;
  }

  /**
   * The key to sign the next checkpoint with: every checkpoint of a database is signed with one key.
   * The key is a file in the data directory; several hub processes on one database each have
   * theirs, and each must be a copy of the same file (like hub.secret). A process whose key is not
   * the one the latest checkpoint was signed with — or that has none — refuses to sign (and makes
   * no key of its own) rather than leave checkpoints no one key verifies.
   */
  private keyFor(last: CheckpointRecord | undefined): SigningKey {
    if (!last) return this.signingKey();
    const k = (this.key ??= loadSigningKey(this.dataDir));
    if (k?.fingerprint !== last.fingerprint) {
      throw new TbError(
        TbCodes.CONFIG,
        `${signingKeyPath(this.dataDir)} ${k ? `is the key ${k.fingerprint}, not` : 'is missing; it must be'} ` +
          `the key ${last.fingerprint} that signed this database's checkpoints: ` +
          `every hub process on one database needs a copy of the same audit-signing-key.pem (with hub.secret)`,
      );
    }
    return k;
  }

  private write(head: { id: number; hash: string }, last: CheckpointRecord | undefined): CheckpointRecord {
    const k = this.keyFor(last);
    const seq = (last?.seq ?? 0) + 1;
    const at = iso(this.clock.now());
    const payload = payloadOf({ seq, id: head.id, hash: head.hash, at, entries: head.id });
    const signature = sign(null, Buffer.from(payload, 'utf8'), k.privateKey).toString('base64');
    this.insert.run({
      seq,
      entry_id: head.id,
      entry_hash: head.hash,
      entries: head.id,
      at,
      payload,
      signature,
      public_key: k.publicPem,
      fingerprint: k.fingerprint,
    });
    this.log.info({ seq, entry: head.id }, 'audit checkpoint signed');
    return {
      seq,
      id: head.id,
      hash: head.hash,
      at,
      entries: head.id,
      payload,
      signature,
      publicKey: k.publicPem,
      fingerprint: k.fingerprint,
    };
  }
}
