import * as z from 'zod/mini';
import { admin } from './route.js';

const body = z.record(z.string(), z.unknown());
const nullableNumber = z.nullable(z.number());
const byStore = z.object({ store: z.optional(z.string()) });
const history = z.object({ store: z.optional(z.string()), limit: z.optional(z.coerce.number().check(z.int())) });
/** Where a versioned document (the returns policy, the sync settings) applies and which version it is. */
const scopedVersion = { scope: z.string(), version: z.number() };

/** One version of versioned settings (a returns policy, sync settings): what changed, by whom. */
const versionRecord = z.object({
  version: z.number(),
  scope: z.string(),
  actor: z.string(),
  note: z.nullable(z.string()),
  createdAt: z.string(),
  /** the change as it was made (a patch, or a whole body) */
  body: z.unknown(),
});

export const showPolicy = admin.get(
  '/policy',
  z.object({
    ...scopedVersion,
    policy: body,
    /** a store's own change over the default */
    override: z.optional(body),
    /** the version the store's agent holds */
    agentHolds: z.optional(nullableNumber),
  }),
  byStore,
);

export const policyHistory = admin.get('/policy/history', z.array(versionRecord), history);

export const setPolicy = admin.put('/policy', z.object({ ...scopedVersion, policy: body }));

export const listManagers = admin.get(
  '/managers',
  z.array(z.object({ id: z.string(), name: z.string(), createdAt: z.string(), revokedAt: z.nullable(z.string()) })),
);

export const setManager = admin.put('/managers/:id', z.object({ id: z.string(), name: z.string() }));

export const removeManager = admin.delete('/managers/:id', z.object({ id: z.string(), removed: z.boolean() }));

export const showConfig = admin.get(
  '/config',
  z.object({
    ...scopedVersion,
    settings: body,
    override: z.optional(z.nullable(body)),
    /** the version the store's agent runs */
    agentRuns: z.optional(nullableNumber),
  }),
  byStore,
);

export const configHistory = admin.get('/config/history', z.array(versionRecord), history);

export const setConfig = admin.put('/config', z.object({ ...scopedVersion, settings: body }));
