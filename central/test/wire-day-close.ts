import type { DayCloseEventBody, WireEvent } from '@tillbridge/shared';

const DAY = '2026-11-27';
const CLOSED_AT = `${DAY}T21:00:00Z`;

/**
 * A register's day close as an agent sends it in an `events` frame: `register` closes 2026-11-27 at 21:00
 * with nothing sold, returned or tendered, but for what `body` says. Its id is `d-<register>` unless given.
 */
export function wireDayClose(
  seq: number,
  register: string,
  body: Partial<DayCloseEventBody> = {},
  id = `d-${register}`,
): WireEvent {
  const full: DayCloseEventBody = {
    requestId: `m-${id}`,
    businessDay: DAY,
    source: 'register',
    closedAt: CLOSED_AT,
    currency: 'EUR',
    sales: { count: 0, amount: 0 },
    returns: { count: 0, amount: 0 },
    tenders: [],
    receipts: [],
    authorizations: [],
    ...body,
  };
  return { seq, id, kind: 'day.close', register, at: CLOSED_AT, body: full };
}
