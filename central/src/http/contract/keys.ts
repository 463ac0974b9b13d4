import { z } from 'zod';
import { route } from './route.js';

const nullableString = z.string().nullable();

const schedule = z.object({
  store: z.string(),
  everyMs: z.number(),
  graceMs: z.number(),
  nextAt: z.string(),
  actor: z.string(),
});

export const listKeys = route(
  'GET',
  '/v1/admin/stores/:store/keys',
  z.object({
    store: z.string(),
    keys: z.array(
      z.object({
        id: z.string(),
        store: z.string(),
        state: z.string(),
        createdAt: z.string(),
        expiresAt: nullableString,
        lastUsedAt: nullableString,
        deliveredAt: nullableString,
        confirmedAt: nullableString,
        revokedAt: nullableString,
      }),
    ),
    schedule: schedule.nullable(),
  }),
);

export const rotateKey = route(
  'POST',
  '/v1/admin/stores/:store/keys/rotate',
  z.object({
    store: z.string(),
    id: z.string(),
    oldKeysExpireAt: z.string(),
    apiKey: z.string(),
    connected: z.boolean(),
  }),
);

export const revokeKey = route(
  'POST',
  '/v1/admin/stores/:store/keys/:id/revoke',
  z.object({ store: z.string(), id: z.string(), revoked: z.boolean() }),
);

/** `{everyMs, graceMs}` sets the schedule; `{off: true}` removes it. */
export const scheduleKeys = route(
  'PUT',
  '/v1/admin/stores/:store/keys/schedule',
  z.union([schedule, z.object({ store: z.string(), removed: z.boolean() })]),
);

export const createToken = route(
  'POST',
  '/v1/admin/tokens',
  z.object({ id: z.string(), role: z.enum(['admin', 'operator']), name: z.string(), token: z.string() }),
);

export const listTokens = route(
  'GET',
  '/v1/admin/tokens',
  z.array(
    z.object({
      id: z.string(),
      role: z.enum(['admin', 'operator']),
      name: z.string(),
      createdAt: z.string(),
      revokedAt: nullableString,
    }),
  ),
);

export const revokeToken = route(
  'POST',
  '/v1/admin/tokens/:id/revoke',
  z.object({ id: z.string(), revoked: z.boolean() }),
);
