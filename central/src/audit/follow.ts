import { setTimeout as sleep } from 'node:timers/promises';
import { isTbError, TbCodes } from '@tillbridge/shared';
import type { AdminClient } from '../cli/admin-client.js';
import { auditTail } from '../http/contract/audit.js';
import type { ExportedEntry } from './entry.js';

export interface FollowOptions {
  /** Print entries after this id (the last one already shown). */
  after: number;
  /** How often to ask the hub for new entries (ms). */
  intervalMs: number;
  signal: AbortSignal;
  onEntries: (entries: ExportedEntry[]) => void;
  /** The hub could not be reached; following goes on. */
  onUnreachable?: (err: Error) => void;
}

/**
 * `audit tail --follow`: polls the admin API for entries after the last one printed, until the
 * signal aborts. A full page is followed at once by the next; an unreachable hub is retried at
 * the same interval; any other error (a revoked token, say) ends the loop by throwing.
 */
export async function followAudit(client: Pick<AdminClient, 'request'>, opts: FollowOptions): Promise<void> {
  const page = 1000;
  let after = opts.after;
  while (!opts.signal.aborted) {
    let got = 0;
    try {
      const entries = await client.request(auditTail, { query: { after, limit: page } });
      got = entries.length;
      const last = entries.at(-1);
      if (last) {
        after = last.id;
        opts.onEntries(entries);
      }
    } catch (err) {
      if (!isTbError(err, TbCodes.HUB_UNAVAILABLE)) throw err;
      opts.onUnreachable?.(err);
    }
    if (got === page) continue;
    try {
      await sleep(opts.intervalMs, undefined, { signal: opts.signal });
    } catch {
      return; // aborted
    }
  }
}
