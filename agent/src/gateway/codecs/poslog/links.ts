import { checked, datedBy, sequencePrefix, statedIdentityOf, withDay, type ReceiptKey } from './identity.js';
import type { ZoneResolver } from './time.js';
import type { XNode } from './xml.js';

/**
 * The receipt number a return's TransactionLink names, formed by the same rule as its sale's
 * (identity.ts), whatever the link says of the sale's day:
 *   - its BusinessDayDate: that day;
 *   - else its BeginDateTime (else EndDateTime…): the sale this agent knows under
 *     store-workstation-sequence on the register's calendar date of that time, else the one whose
 *     time is nearest to it (within 12 hours), else that date;
 *   - neither: the latest sale this agent knows under store-workstation-sequence, up to the
 *     return's own time; else store-workstation-sequence without a day.
 * The sales known are those this agent recorded (its receipts, every register) and those earlier
 * in the same document, so a link that cannot name the day still finds the day the sale was
 * recorded under — also across midnight, and on business days that run past it.
 */

/** A sale by the receipt number it was recorded under, and its time (ISO 8601, may be unknown). */
export interface KnownSale {
  receipt: string;
  at: string | null;
}

/** Sales this agent has recorded, looked up by store-workstation-sequence. */
export interface KnownSales {
  /** Every sale whose receipt number is `prefix` or starts with `prefix` followed by "-". */
  byPrefix(prefix: string): KnownSale[];
}

export interface LinkContext {
  zone: ZoneResolver;
  receiptKey: ReceiptKey;
  /** the returning store: a link without a store names a sale of this store */
  store: string | undefined;
  /** when the return happened (ms), if the return transaction says */
  returnAt: () => number | undefined;
  known: KnownSales | undefined;
  /** sales earlier in the same document */
  inDocument: readonly KnownSale[];
}

/** A sale this near the link's time is the one it names: longer than a transaction, shorter than a day. */
const NEAR_MS = 12 * 3600_000;

export function linkedReceipt(link: XNode, ctx: LinkContext): string | undefined {
  const id = statedIdentityOf(link);
  id.store ??= ctx.store;
  const seq = (): string | undefined => {
    const prefix = sequencePrefix(id);
    if (prefix === undefined) return undefined;
    if (id.businessDay !== undefined) return withDay(prefix, id.businessDay);
    return dayless(prefix, datedBy([link], ctx.zone, 'TransactionLink/'), ctx);
  };
  const receipt =
    ctx.receiptKey === 'sequence'
      ? (seq() ?? id.transactionId ?? id.receiptNumber)
      : (id.transactionId ?? id.receiptNumber ?? seq());
  return checked(receipt, 'the linked receipt number');
}

/** A link naming store, workstation and sequence but no business day. */
function dayless(prefix: string, dated: { day: string; ms: number } | undefined, ctx: LinkContext): string {
  const derived = dated ? withDay(prefix, dated.day) : undefined;
  const candidates = knownUnder(prefix, ctx);
  if (derived !== undefined && candidates.some((c) => c.receipt === derived)) return derived;
  const found = dated ? nearest(candidates, dated.ms) : latest(candidates, ctx.returnAt());
  return found ?? derived ?? prefix;
}

interface Candidate {
  receipt: string;
  ms: number | undefined;
}

function knownUnder(prefix: string, ctx: LinkContext): Candidate[] {
  const mine = (r: string) => r === prefix || (r.startsWith(prefix) && /^-\d{8}$/.test(r.slice(prefix.length)));
  const all = [...ctx.inDocument, ...(ctx.known?.byPrefix(prefix) ?? [])].filter((s) => mine(s.receipt));
  return all.map((s) => {
    const ms = s.at === null ? NaN : Date.parse(s.at);
    return { receipt: s.receipt, ms: Number.isNaN(ms) ? dayNoon(s.receipt.slice(prefix.length + 1)) : ms };
  });
}

/** A receipt's yyyymmdd suffix at noon UTC, the best time known of a sale recorded without one. */
function dayNoon(day: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(day);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 12) : undefined;
}

function nearest(cands: Candidate[], ms: number): string | undefined {
  let best: Candidate | undefined;
  for (const c of cands) {
    if (c.ms === undefined || Math.abs(c.ms - ms) > NEAR_MS) continue;
    if (best?.ms === undefined || Math.abs(c.ms - ms) < Math.abs(best.ms - ms)) best = c;
  }
  return best?.receipt;
}

/** The latest sale not after the return; when every one is after it (clocks apart), the earliest. */
function latest(cands: Candidate[], returnAt: number | undefined): string | undefined {
  const timed = cands.filter((c): c is Candidate & { ms: number } => c.ms !== undefined).sort((a, b) => a.ms - b.ms);
  const before = returnAt === undefined ? timed : timed.filter((c) => c.ms <= returnAt);
  return before.at(-1)?.receipt ?? timed[0]?.receipt ?? cands[0]?.receipt;
}
