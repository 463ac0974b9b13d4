import * as z from 'zod/mini';
import { admin } from './route.js';

const nullableString = z.nullable(z.string());
const role = z.enum(['admin', 'operator']);

const schedule = z.object({
  store: z.string(),
  everyMs: z.number(),
  graceMs: z.number(),
  nextAt: z.string(),
  actor: z.string(),
});

/** A store's API key as the admin API shows it: never the key itself. */
const keyView = z.object({
  id: z.string(),
  store: z.string(),
  state: z.string(),
  createdAt: z.string(),
  expiresAt: nullableString,
  lastUsedAt: nullableString,
  deliveredAt: nullableString,
  confirmedAt: nullableString,
  revokedAt: nullableString,
});

/** The new key, shown once, and whether the store's agent gets it now (connected) or when it connects. */
const rotation = z.object({
  store: z.string(),
  id: z.string(),
  oldKeysExpireAt: z.string(),
  apiKey: z.string(),
  connected: z.boolean(),
});

/** An admin token as lists show it: never the token. */
const tokenView = z.object({
  id: z.string(),
  role,
  name: z.string(),
  createdAt: z.string(),
  revokedAt: nullableString,
});

export const listKeys = admin.get(
  '/stores/:store/keys',
  z.object({ store: z.string(), keys: z.array(keyView), schedule: z.nullable(schedule) }),
);

export const rotateKey = admin.post('/stores/:store/keys/rotate', rotation);

export const revokeKey = admin.post(
  '/stores/:store/keys/:id/revoke',
  z.object({ store: z.string(), id: z.string(), revoked: z.boolean() }),
);

/** `{everyMs, graceMs}` sets the schedule; `{off: true}` removes it. */
export const scheduleKeys = admin.put(
  '/stores/:store/keys/schedule',
  z.union([schedule, z.object({ store: z.string(), removed: z.boolean() })]),
);

export const createToken = admin.post(
  '/tokens',
  z.object({ id: z.string(), role, name: z.string(), token: z.string() }),
);

export const listTokens = admin.get('/tokens', z.array(tokenView));

export const revokeToken = admin.post('/tokens/:id/revoke', z.object({ id: z.string(), revoked: z.boolean() }));
