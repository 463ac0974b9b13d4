import * as z from 'zod/mini';
import { admin } from './route.js';
import { agentView } from './stores.js';

const nullableString = z.nullable(z.string());
const nullableNumber = z.nullable(z.number());

/** Authorizations: return tickets by mode and outcome, late and failed requests, rates. */
const authorizationRate = z.object({
  tickets: z.object({ online: z.record(z.string(), z.number()), offline: z.record(z.string(), z.number()) }),
  lateOnline: z.number(),
  failed: z.number(),
  total: z.number(),
  successRate: nullableNumber,
  onlineRate: nullableNumber,
});

const terminal = z.object({
  register: z.string(),
  /** register or scanner (a HID barcode scanner); register when its agent (before protocol 5) did not say */
  kind: z.string(),
  /** the codec a register's endpoint speaks; null when its agent did not say */
  codec: nullableString,
  /** the register a scanner feeds */
  feeds: nullableString,
  state: z.string(),
  detail: nullableString,
  transport: z.string(),
  connections: z.number(),
  reported: z.nullable(z.object({ state: z.string(), detail: nullableString, at: nullableString })),
  lastMessageAt: nullableString,
  at: z.string(),
});

const storeStatus = z.object({
  store: z.string(),
  name: z.string(),
  connected: z.boolean(),
  since: nullableString,
  lastSeen: nullableString,
  lagMs: nullableNumber,
  outboxDepth: nullableNumber,
  lastSeq: z.number(),
  policy: z.object({ version: z.number(), agentHolds: nullableNumber }),
  settings: z.object({ version: z.number(), agentRuns: nullableNumber }),
  inventoryAccuracy: z.nullable(
    z.object({ ratio: z.number(), skus: z.number(), matching: z.number(), at: z.string() }),
  ),
  authorizations: authorizationRate,
  agentId: nullableString,
  agent: z.nullable(agentView),
  registers: z.array(z.object({ id: z.string(), connected: z.number() })),
  terminals: z.array(terminal),
});

const feedRelay = z.object({
  broker: z.string(),
  exchange: z.string(),
  consumer: z.string(),
  relaying: z.boolean(),
  lease: z.nullable(z.object({ holder: z.string(), until: z.string() })),
  connected: z.boolean(),
  position: z.number(),
  head: z.number(),
  lag: z.number(),
  relayed: z.number(),
  lastError: z.nullable(z.object({ message: z.string(), at: z.string() })),
});

const disabledEndpoint = z.object({
  id: z.string(),
  url: z.string(),
  store: nullableString,
  disabledAt: z.string(),
  reason: z.string(),
});

const feedConsumer = z.object({
  name: z.string(),
  position: z.number(),
  lag: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** Per store: connection, lag, outbox, policy and settings versions, inventory accuracy, terminals. */
export const hubStatus = admin.get(
  '/status',
  z.object({
    minAgentVersion: nullableString,
    now: z.string(),
    webhooks: z.object({
      endpoints: z.number(),
      disabled: z.array(disabledEndpoint),
    }),
    feedRelay: z.nullable(feedRelay),
    feed: z.object({
      head: z.number(),
      consumers: z.array(feedConsumer),
    }),
    connectedStores: z.number(),
    authorizations: authorizationRate,
    stores: z.array(storeStatus),
  }),
  z.object({ store: z.optional(z.string()) }),
);
