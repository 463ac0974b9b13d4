import { isBusinessDay, TbCodes, TbError } from '@tillbridge/shared';
import {
  CONSUMER_NAME,
  FEED_EVENT_TYPES,
  isFeedEventType,
  MAX_READ,
  type FeedEntry,
  type FeedFilter,
} from '../../feed/feed.js';
import type { AdminApi } from '../../usecases/index.js';
import type { RequestContext, Router } from '../router.js';
import { actorOf, authorize, need } from './common.js';
import { ackFeed, listFeedConsumers, readFeed, removeFeedConsumer, showFeedConsumer } from '../contract/feed.js';

/** The longest a pull may wait for new entries (seconds). */
export const MAX_WAIT_SECONDS = 60;

function intParam(ctx: RequestContext, name: string, min: number, max: number): number | undefined {
  const raw = ctx.query.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max)
    throw new TbError(
      TbCodes.INVALID,
      `${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  return Number(raw);
}

function consumerName(raw: string): string {
  if (!CONSUMER_NAME.test(raw))
    throw new TbError(
      TbCodes.INVALID,
      `consumer: expected a name of letters, digits and . _ : - (at most 64), got ${JSON.stringify(raw)}`,
    );
  return raw;
}

/** ?store=&type=a,b&day= */
function filterOf(ctx: RequestContext): FeedFilter {
  const f: FeedFilter = {};
  const store = ctx.query.get('store');
  if (store) f.store = store;
  const types = ctx.query
    .getAll('type')
    .flatMap((t) => t.split(','))
    .filter(Boolean);
  for (const t of types)
    if (!isFeedEventType(t))
      throw new TbError(
        TbCodes.INVALID,
        `type: expected one of ${FEED_EVENT_TYPES.join(', ')}, got ${JSON.stringify(t)}`,
      );
  if (types.length) f.types = types;
  const day = ctx.query.get('day');
  if (day) {
    if (!isBusinessDay(day))
      throw new TbError(TbCodes.INVALID, `day: expected a date YYYY-MM-DD, got ${JSON.stringify(day)}`);
    f.day = day;
  }
  return f;
}

/**
 * The ERP feed, pulled (docs/erp-feed.md): `GET /v1/feed?after=N&limit=N&wait=S` answers the
 * entries after position N (oldest first) and `next`, the position to ask after next time; with
 * `wait` it holds the request until an entry arrives (long polling). `consumer=NAME` starts after
 * that consumer's acknowledged position. Any admin token reads it; operator (read-only) tokens may
 * also move their consumer's cursor forward — the one write they may make, which changes no
 * business data.
 */
export function feedRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;

  router.serve(readFeed, async (ctx) => {
    authorize(api, ctx, false);
    const limit = intParam(ctx, 'limit', 1, MAX_READ) ?? 100;
    const waitS = intParam(ctx, 'wait', 0, MAX_WAIT_SECONDS) ?? 0;
    const consumerRaw = ctx.query.get('consumer');
    const consumer = consumerRaw ? consumerName(consumerRaw) : undefined;
    let after = intParam(ctx, 'after', 0, Number.MAX_SAFE_INTEGER);
    after ??= consumer ? (q.erpFeed.consumer(consumer)?.position ?? 0) : 0;
    const filter = filterOf(ctx);
    // the wait is a timer, not a clock reading: it ends when the client goes or the time is up
    const over = new AbortController();
    // the response's close: the client went (the request's fires once its body is read)
    ctx.res.once('close', () => over.abort());
    const timer = setTimeout(() => over.abort(), waitS * 1000);
    let page: { entries: FeedEntry[]; next: number } = q.erpFeed.read(after, limit, filter);
    try {
      while (page.entries.length === 0 && waitS > 0 && !over.signal.aborted) {
        await q.erpFeed.waitPast(page.next, waitS * 1000, over.signal);
        page = q.erpFeed.read(page.next, limit, filter);
      }
    } finally {
      clearTimeout(timer);
    }
    return { entries: page.entries, next: page.next, head: q.erpFeed.head() };
  });

  router.serve(listFeedConsumers, (ctx) => {
    authorize(api, ctx, false);
    return q.erpFeed.consumers();
  });

  router.serve(showFeedConsumer, (ctx) => {
    authorize(api, ctx, false);
    return need(q.erpFeed.consumer(consumerName(ctx.params.name)), `feed consumer ${ctx.params.name}`);
  });

  // {position, rewind?}: the consumer handled everything up to position
  router.serve(ackFeed, async (ctx) => {
    const body = (await ctx.body()) as { position?: unknown; rewind?: unknown };
    const rewind = body.rewind === true;
    const who = authorize(api, ctx, rewind); // going back (a replay) needs the admin role
    if (typeof body.position !== 'number' || !Number.isSafeInteger(body.position) || body.position < 0) {
      throw new TbError(
        TbCodes.INVALID,
        `position: expected a whole number 0 or more, got ${JSON.stringify(body.position)}`,
      );
    }
    return api.feed.ack(actorOf(who), consumerName(ctx.params.name), body.position, { rewind });
  });

  router.serve(removeFeedConsumer, (ctx) => {
    const who = authorize(api, ctx, true);
    const name = consumerName(ctx.params.name);
    if (!api.feed.remove(actorOf(who), name)) throw new TbError(TbCodes.NOT_FOUND, `feed consumer ${name} not found`);
    return { removed: name };
  });
}
