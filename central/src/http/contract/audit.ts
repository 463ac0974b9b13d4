import * as z from 'zod/mini';
import { admin } from './route.js';

const nullableString = z.nullable(z.string());

/** An audit entry as exported: its fields in export order, `details` as the JSON text that was hashed. */
export const auditEntry = z.object({
  id: z.number(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  store: nullableString,
  register: nullableString,
  outcome: z.string(),
  origin: nullableString,
  resource: nullableString,
  details: z.string(),
  prev_hash: z.string(),
  hash: z.string(),
});

/** A signed checkpoint of the chain's head, as a file anyone can check (docs/audit.md). */
export const checkpointFile = z.object({
  format: z.literal('tillbridge-audit-checkpoint/1'),
  checkpoint: z.object({
    kind: z.literal('tillbridge.audit.checkpoint'),
    v: z.literal(1),
    seq: z.number(),
    id: z.number(),
    hash: z.string(),
    at: z.string(),
    entries: z.number(),
  }),
  payload: z.string(),
  signature: z.string(),
  publicKey: z.string(),
  fingerprint: z.string(),
});

export const verifyAudit = admin.get(
  '/audit/verify',
  z.union([
    z.object({
      ok: z.literal(true),
      entries: z.number(),
      head: z.string(),
      from: z.number(),
      to: z.number(),
      checkpoints: z.number(),
    }),
    z.object({ ok: z.literal(false), entries: z.number(), firstBad: z.number(), problem: z.string() }),
  ]),
);

/** The latest `limit` entries, or `limit` entries after `after` (what `audit tail --follow` polls). */
export const auditTail = admin.get(
  '/audit',
  z.array(auditEntry),
  z.object({ after: z.optional(z.coerce.number()), limit: z.optional(z.coerce.number()) }),
);

/**
 * A page of the log in chain order (what `audit export` pages through): entries written from `since` (ISO 8601;
 * default 90 days ago) up to `until` (exclusive), of one `store` if named, after the cursor `after`. `next` is the
 * cursor of the following page (null: this was the last), `head` the chain's newest entry when the page was read,
 * `estimate` (first page only) how many entries the range holds.
 */
export const auditEntries = admin.get(
  '/audit/entries',
  z.object({
    entries: z.array(auditEntry),
    next: z.nullable(z.number()),
    head: z.number(),
    estimate: z.optional(z.number()),
  }),
  z.object({
    since: z.optional(z.string()),
    until: z.optional(z.string()),
    store: z.optional(z.string()),
    after: z.optional(z.coerce.number()),
    limit: z.optional(z.coerce.number()),
  }),
);

export const listCheckpoints = admin.get(
  '/audit/checkpoints',
  z.array(
    z.object({
      seq: z.number(),
      id: z.number(),
      hash: z.string(),
      at: z.string(),
      entries: z.number(),
      fingerprint: z.string(),
    }),
  ),
  z.object({ limit: z.optional(z.coerce.number()), before: z.optional(z.coerce.number()) }),
);

export const latestCheckpoint = admin.get('/audit/checkpoints/latest', checkpointFile);

export const showCheckpoint = admin.get('/audit/checkpoints/:seq', checkpointFile);

/** A checkpoint of the head now (admin role; the request is audited and covered by it). */
export const signCheckpoint = admin.post('/audit/checkpoints', checkpointFile);

export const auditPublicKey = admin.get(
  '/audit/public-key',
  z.object({ publicKey: z.string(), fingerprint: z.string() }),
);
