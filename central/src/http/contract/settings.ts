import { z } from 'zod';
import { admin } from './route.js';

const body = z.record(z.string(), z.unknown());
const nullableNumber = z.number().nullable();
const byStore = z.object({ store: z.string().optional() });
const history = z.object({ store: z.string().optional(), limit: z.coerce.number().int().optional() });
/** Where a versioned document (the returns policy, the sync settings) applies and which version it is. */
const scopedVersion = { scope: z.string(), version: z.number() };

/** One version of versioned settings (a returns policy, sync settings): what changed, by whom. */
const versionRecord = z.object({
  version: z.number(),
  scope: z.string(),
  actor: z.string(),
  note: z.string().nullable(),
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
    override: body.optional(),
    /** the version the store's agent holds */
    agentHolds: nullableNumber.optional(),
  }),
  byStore,
);

export const policyHistory = admin.get('/policy/history', z.array(versionRecord), history);

export const setPolicy = admin.put('/policy', z.object({ ...scopedVersion, policy: body }));

export const listManagers = admin.get(
  '/managers',
  z.array(z.object({ id: z.string(), name: z.string(), createdAt: z.string(), revokedAt: z.string().nullable() })),
);

export const setManager = admin.put('/managers/:id', z.object({ id: z.string(), name: z.string() }));

export const removeManager = admin.delete('/managers/:id', z.object({ id: z.string(), removed: z.boolean() }));

export const showConfig = admin.get(
  '/config',
  z.object({
    ...scopedVersion,
    settings: body,
    override: body.nullable().optional(),
    /** the version the store's agent runs */
    agentRuns: nullableNumber.optional(),
  }),
  byStore,
);

export const configHistory = admin.get('/config/history', z.array(versionRecord), history);

export const setConfig = admin.put('/config', z.object({ ...scopedVersion, settings: body }));
