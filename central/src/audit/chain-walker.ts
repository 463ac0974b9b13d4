import { entryHash, GENESIS_HASH } from '../domain/audit-log.js';
import type { ExportedEntry } from './entry.js';

export interface ChainProblem {
  firstBad: number;
  problem: string;
}

export interface WalkOptions {
  /** The entry the first one must follow (a signed checkpoint's head, once older entries were pruned). */
  anchor?: { id: number; hash: string };
  /** The hash a signed checkpoint gives for entry `id`, if one does. */
  vouched?: (id: number) => string | undefined;
}

/**
 * Walks a chain one entry at a time, in O(1) memory: ids follow each other, each entry links to
 * the previous one's hash, each hash recomputes, and each entry a checkpoint vouches for has the
 * signed hash. The first entry links to the anchor, to the genesis hash when it is entry 1, and is
 * otherwise taken as it is (a later signed hash then vouches for it through the links).
 */
export class ChainWalker {
  count = 0;
  firstId: number | undefined;
  lastId: number | undefined;
  head: string | undefined;

  constructor(private readonly opts: WalkOptions = {}) {}

  push(e: ExportedEntry): ChainProblem | undefined {
    const p = this.check(e);
    if (p) return p;
    this.count++;
    this.firstId ??= e.id;
    this.lastId = e.id;
    this.head = e.hash;
    return undefined;
  }

  /** The entries walked so far: the first and last ids and the last hash; undefined before the first. */
  walked(): { first: number; last: number; head: string } | undefined {
    if (this.firstId === undefined || this.lastId === undefined || this.head === undefined) return undefined;
    return { first: this.firstId, last: this.lastId, head: this.head };
  }

  private check(e: ExportedEntry): ChainProblem | undefined {
    const prev =
      this.lastId === undefined || this.head === undefined ? this.opts.anchor : { id: this.lastId, hash: this.head };
    if (prev) {
      if (e.id !== prev.id + 1) {
        const what =
          e.id > prev.id + 1 ? `${range(prev.id + 1, e.id - 1)} missing or out of place` : 'entries out of order';
        return { firstBad: e.id, problem: `entry ${e.id} follows entry ${prev.id}: ${what}` };
      }
      if (e.prev_hash !== prev.hash)
        return {
          firstBad: e.id,
          problem: `entry ${e.id} does not link to entry ${prev.id}: one of them was changed, removed or reordered`,
        };
    } else if (e.id === 1 && e.prev_hash !== GENESIS_HASH) {
      return { firstBad: 1, problem: 'entry 1 does not start the chain (its prev_hash is not the genesis hash)' };
    }
    const { hash, ...rest } = e;
    if (entryHash(rest) !== hash) return { firstBad: e.id, problem: `entry ${e.id} was changed after it was written` };
    const signed = this.opts.vouched?.(e.id);
    if (signed !== undefined && signed !== hash) {
      return {
        firstBad: e.id,
        problem:
          `entry ${e.id}'s hash differs from the one a signed checkpoint holds for it: ` +
          `it, or an entry before it, was rewritten and the hashes recomputed`,
      };
    }
    return undefined;
  }
}

export function range(a: number, b: number): string {
  return a === b ? `entry ${a} is` : `entries ${a}..${b} are`;
}
