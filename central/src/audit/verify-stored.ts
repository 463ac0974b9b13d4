import { GENESIS_HASH } from '../domain/audit-log.js';
import type { AuditCheckpoints, CheckpointRecord } from './checkpoints.js';
import { ChainWalker, range, type ChainProblem } from './chain-walker.js';
import type { AuditQuery } from './query.js';
import { PRUNE_ACTION } from './retention.js';

export type ChainVerifyResult =
  | {
      ok: true;
      entries: number;
      head: string;
      /** The oldest retained entry (1 unless retention pruned older ones). */
      from: number;
      to: number;
      /** Signed checkpoints checked along the way. */
      checkpoints: number;
    }
  | { ok: false; entries: number; firstBad: number; problem: string };

/**
 * Verifies the hub's stored chain. It starts at the oldest retained entry: entry 1 (linked to the
 * genesis hash) or, after retention, an entry whose prev_hash a signed checkpoint vouches for —
 * and only when an `audit.prune` entry in the chain says entries were pruned that far. Every
 * signed checkpoint on the way must match the entry it names, and none may name an entry past
 * the end (a truncated tail).
 */
export function verifyStoredChain(query: AuditQuery, checkpoints: AuditCheckpoints): ChainVerifyResult {
  const oldest = query.oldest();
  if (!oldest) return verifyEmpty(checkpoints);
  let anchor: { id: number; hash: string } | undefined;
  if (oldest.id > 1) {
    const cp = checkpoints.forEntry(oldest.id - 1);
    const v = cp ? checkpoints.vouched(cp) : undefined;
    if (!cp || !v || 'problem' in v) {
      const why =
        v && 'problem' in v
          ? v.problem
          : `no signed checkpoint vouches for entry ${oldest.id - 1}, which entry ${oldest.id} links to`;
      return { ok: false, entries: 0, firstBad: oldest.id, problem: `${range(1, oldest.id - 1)} gone and ${why}` };
    }
    anchor = { id: v.body.id, hash: v.body.hash };
  }

  // the checkpoints at or after the anchor, checked as the walk reaches the entries they name
  const cps = checkpoints.from(oldest.id);
  const nextCheckpoint = (): CheckpointRecord | undefined => {
    const r = cps.next();
    return r.done ? undefined : r.value;
  };
  let next = nextCheckpoint();
  let checked = anchor ? 1 : 0;
  let problem: ChainProblem | undefined;
  let vouchedHash: string | undefined;
  const walker = new ChainWalker({ ...(anchor ? { anchor } : {}), vouched: () => vouchedHash });
  let prunedThrough = 0;

  for (const e of query.iterate(oldest.id - 1)) {
    vouchedHash = undefined;
    while (next && next.id < e.id) next = nextCheckpoint();
    if (next?.id === e.id) {
      const v = checkpoints.vouched(next);
      if ('problem' in v) return { ok: false, entries: walker.count, firstBad: e.id, problem: v.problem };
      vouchedHash = v.body.hash;
      checked++;
      // used: a checkpoint on the chain's last entry must not read as one past its end
      next = nextCheckpoint();
    }
    problem = walker.push(e);
    if (problem) return { ok: false, entries: walker.count + 1, ...problem };
    if (e.action === PRUNE_ACTION) prunedThrough = Math.max(prunedThrough, prunedThroughOf(e.details));
  }
  if (next) {
    const last = walker.lastId ?? oldest.id - 1;
    return {
      ok: false,
      entries: walker.count,
      firstBad: last + 1,
      problem:
        `the chain ends at entry ${last} but signed checkpoint #${next.seq} vouches for entry ${next.id}: ` +
        `${range(last + 1, next.id)} gone (the tail was cut)`,
    };
  }
  if (oldest.id - 1 > prunedThrough) {
    return {
      ok: false,
      entries: walker.count,
      firstBad: oldest.id,
      problem:
        `${range(1, oldest.id - 1)} gone but the chain records pruning only through entry ${prunedThrough}: ` +
        `they were removed, not pruned`,
    };
  }
  const walked = walker.walked();
  if (!walked) throw new Error(`audit verify: the walk from entry ${oldest.id} read no entry`);
  return {
    ok: true,
    entries: walker.count,
    head: walked.head,
    from: oldest.id,
    to: walked.last,
    checkpoints: checked,
  };
}

/** An empty audit log: whole, unless a signed checkpoint vouches for entries (they were removed). */
function verifyEmpty(checkpoints: AuditCheckpoints): ChainVerifyResult {
  const cp = checkpoints.latest();
  if (!cp) return { ok: true, entries: 0, head: GENESIS_HASH, from: 0, to: 0, checkpoints: 0 };
  return {
    ok: false,
    entries: 0,
    firstBad: 1,
    problem: `the audit log is empty but signed checkpoint #${cp.seq} vouches for ${cp.id} entries: they were removed`,
  };
}

function prunedThroughOf(details: string): number {
  try {
    const t = (JSON.parse(details) as { through?: unknown }).through;
    return typeof t === 'number' && Number.isInteger(t) ? t : 0;
  } catch {
    return 0;
  }
}
