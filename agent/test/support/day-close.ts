import type { DayCloseEventBody } from '@tillbridge/shared';

/** What a day close reports of its day: its sales and its returns (count and amount), and each tender's total. */
export interface DayTotals {
  sales: { count: number; amount: number };
  returns: { count: number; amount: number };
  tenders: { kind: string; amount: number }[];
}

/** A day's totals: `sales` and `returns` as [count, amount] (minor units), then each tender as [kind, amount]. */
export function dayTotals(
  sales: [number, number],
  returns: [number, number],
  ...tenders: [string, number][]
): DayTotals {
  return {
    sales: { count: sales[0], amount: sales[1] },
    returns: { count: returns[0], amount: returns[1] },
    tenders: tenders.map(([kind, amount]) => ({ kind, amount })),
  };
}

/**
 * The totals of the register day closes the agent's tests send, as the golden till settlement (POSLog) and the
 * documented ACME Z record report them: two sales of 25.00 in all and one return of 10.00; 5.00 in cash, 10.00 by card.
 */
export const SETTLED_DAY: DayTotals = dayTotals([2, 2500], [1, 1000], ['cash', 500], ['card', 1000]);

/** Which day a close is of, and where the close says so, when it was closed and in what currency. */
export interface ClosedDay {
  businessDay: string;
  closedAt?: string;
  currency?: string;
}

/** A register's `day.close` message `id`: the day it closes and its totals. */
export function dayCloseMessage(id: string, day: ClosedDay, totals: DayTotals) {
  return { type: 'day.close' as const, id, ...day, ...totals };
}

/**
 * The body of the `day.close` event the store core enqueues for the close `requestId` from `source`: the day and its
 * totals, then the receipts and the return authorizations the agent forwarded for that register and day.
 */
export function expectedDayClose(
  requestId: string,
  source: DayCloseEventBody['source'],
  day: ClosedDay,
  totals: DayTotals,
  receipts: string[],
  authorizations: string[] = [],
): Partial<DayCloseEventBody> {
  return { requestId, source, ...day, ...totals, receipts, authorizations };
}
