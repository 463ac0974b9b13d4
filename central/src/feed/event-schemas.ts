import * as z from 'zod';
import { FEED_EVENT_TYPES, type FeedEventType } from './feed.js';

/**
 * What ERP integrators code against: the shape of each feed event's `data`, and of the entry
 * around it (docs/erp-feed.md). The JSON Schema files in central/schemas/feed/ are written from
 * these by `npm run schemas` and checked against them by the tests, so the files cannot drift
 * from what the hub sends; the tests also check every entry the hub writes against them.
 *
 * Compatibility: objects are open — a later version may add fields (consumers ignore what they do
 * not know); a field is never removed, renamed or given another meaning within a major version.
 */

const Iso = z.iso.datetime({ offset: true });
const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const Minor = z.number().int().describe('money in minor units of the currency (cents)');
const Qty = z.number().describe('quantity in units, up to three decimals');

const Tender = z.looseObject({
  kind: z.string().describe('cash, card, gift_card, store_credit…'),
  amount: Minor,
  pan: z.string().optional().describe('masked card number (first six and last four at most); never a full number'),
});

const SaleRecorded = z
  .looseObject({
    store: z.string(),
    receipt: z.string().describe('the receipt number, unique within the store'),
    register: z.string().nullable().describe('null: another channel (an imported web order)'),
    channel: z.string().describe('store, or the channel an import named (web…)'),
    at: Iso,
    currency: z.string().length(3),
    total: Minor.describe('sum of the lines: quantity × unit price'),
    lines: z.array(z.looseObject({ line: z.number().int(), sku: z.string(), qty: Qty, unitPrice: Minor })),
    tenders: z.array(Tender),
    sourceEventId: z.string().nullable().describe("the agent's event id (null for imports)"),
  })
  .describe('A sale recorded at the hub, from a store or another channel.');

const ReturnLine = z.looseObject({
  line: z.number().int().nullable().describe("the sale's line; null when a line asked by SKU matched none"),
  sku: z.string().nullable(),
  requestedQty: Qty,
  approvedQty: Qty,
  completedQty: Qty,
  disposition: z.string().describe('restock or damaged'),
  code: z.string().describe('ok, or why the line was refused'),
});

const Ticket = {
  authorization: z.string(),
  store: z.string(),
  register: z.string(),
  receipt: z.string().nullable(),
  receiptStore: z.string().nullable().describe('the store that issued the receipt'),
  mode: z.enum(['online', 'offline']),
  decision: z.string().describe('approved, conditional, override_required, denied'),
  status: z.string().describe('reserved, completed, cancelled, expired, denied, reversed…'),
  kind: z.string().nullable().describe('full or partial, once completed'),
  reason: z.string().nullable(),
  refund: z.looseObject({ amount: Minor, kind: z.string().nullable() }).nullable(),
  conditions: z.array(z.unknown()),
  policyVersion: z.number().int(),
  reconciliation: z.string().nullable(),
  exception: z.string().nullable().describe('the open exception code, if any'),
  override: z.looseObject({ manager: z.string(), at: z.string().nullable() }).nullable(),
  lines: z.array(ReturnLine),
  createdAt: Iso,
  updatedAt: Iso,
};

const LatencyMs = z
  .number()
  .nonnegative()
  .optional()
  .describe(
    "an online decision's latency at the hub, in ms: from the request's arrival to the decision, " +
      'just before its commit (absent on offline decisions and overrides)',
  );

const Moved = z.array(z.looseObject({ sku: z.string(), qty: Qty }));

const Resolution = z.looseObject({
  exceptions: z.array(z.looseObject({ id: z.string(), code: z.string(), kind: z.string() })),
  action: z.string().describe('accept or reverse'),
  note: z.string(),
  by: z.string(),
  moved: z.array(z.unknown()),
});

const DayTotals = z.looseObject({
  sales: z.looseObject({ count: z.number().int(), amount: Minor }),
  returns: z.looseObject({ count: z.number().int(), amount: Minor }),
  tenders: z.array(z.looseObject({ kind: z.string(), amount: Minor })),
});

const Lists = z.looseObject({ receipts: z.array(z.string()), authorizations: z.array(z.string()) });

const Day_ = {
  store: z.string(),
  register: z.string(),
  businessDay: Day,
  source: z
    .enum(['register', 'agent'])
    .describe("register: the register's own day close; agent: the agent's count at the store's cut-off"),
  closedAt: Iso.describe('when the register (or the agent) closed the day'),
  currency: z.string().nullable(),
  reconciledAt: Iso,
};

/** The `data` of each event type. */
export const FEED_DATA_SCHEMAS: Record<FeedEventType, z.ZodType> = {
  'sale.recorded': SaleRecorded,
  'return.authorized': z
    .looseObject({ ...Ticket, latencyMs: LatencyMs })
    .describe('A return authorized (approved or conditional), online or offline.'),
  'return.denied': z.looseObject({ ...Ticket, latencyMs: LatencyMs }).describe('A return request denied.'),
  'return.completed': z
    .looseObject({
      ...Ticket,
      restocked: Moved.describe('what went back to stock'),
      exchanged: Moved.describe('items the customer took instead'),
    })
    .describe('A return completed at the register: refund paid, stock adjusted, exchange items taken.'),
  'return.cancelled': z
    .looseObject({ ...Ticket, cause: z.enum(['register', 'expired']) })
    .describe('An authorized return not completed: cancelled at the register, or its reservation expired.'),
  'return.exception': z
    .looseObject({
      id: z.string().describe("the exception's id (tillbridge-hub returns exceptions)"),
      store: z.string(),
      register: z.string().nullable(),
      event: z
        .looseObject({ id: z.string(), kind: z.string() })
        .nullable()
        .describe("the agent's event the hub refused, if that was the cause"),
      kind: z.string(),
      code: z.string(),
      reason: z.string(),
      authorization: z.string().nullable(),
      at: Iso,
      origin: z.enum(['refused', 'flagged']),
    })
    .describe('An exception for a person to look at: an event the hub refused, or a return kept against the rules.'),
  'return.resolved': z
    .union([
      z.looseObject({ ...Ticket, resolution: Resolution }),
      z.looseObject({
        store: z.string(),
        register: z.string().nullable(),
        authorization: z.null(),
        resolution: Resolution,
      }),
    ])
    .describe(
      'Exceptions resolved by an operator (accepted, or the return reversed), or by the hub (a day discrepancy ' +
        'that a corrected day close replaced).',
    ),
  'inventory.adjusted': z
    .looseObject({
      store: z.string(),
      sku: z.string(),
      delta: Qty,
      onHand: Qty.describe('on hand after this movement'),
      kind: z.string().describe('sale, return, exchange, adjustment, import, count…'),
      ref: z.string().nullable(),
      at: Iso,
    })
    .describe("A movement of a store's stock."),
  'day.reconciled': z
    .looseObject({
      ...Day_,
      totals: DayTotals.describe('the totals, as reported and as recorded'),
      resendAttempts: z.number().int().describe('resends asked of the agent before it matched'),
    })
    .describe("A register's business day matched what the hub recorded (docs/reconciliation.md)."),
  'day.discrepancy': z
    .looseObject({
      ...Day_,
      reported: DayTotals.describe('what the register (or the agent) reported'),
      recorded: DayTotals.describe('what the hub recorded for that register and day'),
      differences: z
        .looseObject({
          missing: Lists.describe('forwarded by the agent, not at the hub'),
          extra: Lists.describe('at the hub, not forwarded by the agent for that register and day'),
          elsewhere: z
            .looseObject({
              receipts: z.array(
                z.looseObject({ id: z.string(), register: z.string().nullable(), businessDay: Day.nullable() }),
              ),
              authorizations: z.array(
                z.looseObject({ id: z.string(), register: z.string().nullable(), businessDay: Day.nullable() }),
              ),
            })
            .describe('forwarded by the agent, at the hub under another register or day'),
          totals: z.array(z.looseObject({ what: z.string(), register: z.number(), hub: z.number() })),
        })
        .describe('what differs'),
      reason: z.string().describe('the differences in words, as the exception says them'),
      exception: z.string().nullable().describe('the exception raised (tillbridge-hub returns exceptions)'),
    })
    .describe(
      "A register's business day differs from what the hub recorded; an exception is open (docs/reconciliation.md).",
    ),
};

/** The entry around `data`, the same for every type. */
export const FEED_ENTRY_SCHEMA = z.looseObject({
  position: z
    .number()
    .int()
    .positive()
    .describe('grows with every entry, in commit order; resume after the last you handled'),
  id: z.string().describe('the event id for ever: dedupe by it (also the webhook-id and the AMQP message-id)'),
  type: z.enum(FEED_EVENT_TYPES),
  store: z.string().nullable(),
  businessDay: Day.nullable().describe(
    "the date in the store's time zone (sync setting timeZone) on which it happened",
  ),
  at: Iso.describe('when it happened'),
  recordedAt: Iso.describe('when the hub committed it'),
  data: z.looseObject({}),
});

/** The JSON Schema documents, by file name (central/schemas/feed/). */
export function feedJsonSchemas(): Record<string, unknown> {
  const base = 'https://tillbridge.example/schemas/feed';
  const out: Record<string, unknown> = {
    'entry.schema.json': {
      $id: `${base}/entry.schema.json`,
      title: 'Tillbridge ERP feed entry',
      ...z.toJSONSchema(FEED_ENTRY_SCHEMA),
    },
  };
  for (const type of FEED_EVENT_TYPES) {
    out[`${type}.schema.json`] = {
      $id: `${base}/${type}.schema.json`,
      title: `Tillbridge ERP feed: ${type} (the entry's data)`,
      ...z.toJSONSchema(FEED_DATA_SCHEMAS[type]),
    };
  }
  return out;
}
