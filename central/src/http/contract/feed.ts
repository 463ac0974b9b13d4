import * as z from 'zod/mini';
import { routesUnder } from './route.js';

/** An entry of the ERP feed (docs/erp-feed.md): position, id, type, store, day, times, the event's data. */
export const feedEntry = z.object({
  position: z.number(),
  id: z.string(),
  type: z.string(),
  store: z.nullable(z.string()),
  businessDay: z.nullable(z.string()),
  at: z.string(),
  recordedAt: z.string(),
  data: z.record(z.string(), z.unknown()),
});

/** A consumer's cursor: the last position it acknowledged and how far it is behind. */
export const feedConsumer = z.object({
  name: z.string(),
  position: z.number(),
  lag: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const feed = routesUnder('/v1/feed');

/** Entries after `after` (or after `consumer`'s cursor), oldest first; `wait` holds the request for one. */
export const readFeed = feed.get(
  '',
  z.object({ entries: z.array(feedEntry), next: z.number(), head: z.number() }),
  z.object({
    after: z.optional(z.coerce.number()),
    limit: z.optional(z.coerce.number()),
    wait: z.optional(z.coerce.number()),
    consumer: z.optional(z.string()),
    store: z.optional(z.string()),
    type: z.optional(z.string()),
    day: z.optional(z.string()),
  }),
);

export const listFeedConsumers = feed.get('/consumers', z.array(feedConsumer));

export const showFeedConsumer = feed.get('/consumers/:name', feedConsumer);

/** `{position, rewind?}`: the consumer handled everything up to position (going back needs the admin role). */
export const ackFeed = feed.post('/consumers/:name/ack', feedConsumer);

export const removeFeedConsumer = feed.delete('/consumers/:name', z.object({ removed: z.string() }));
