import { z } from 'zod';
import { route } from './route.js';

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

export const showPolicy = route(
  'GET',
  '/v1/admin/policy',
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

export const policyHistory = route('GET', '/v1/admin/policy/history', z.array(versionRecord), history);

export const setPolicy = route('PUT', '/v1/admin/policy', z.object({ ...scopedVersion, policy: body }));

export const listManagers = route(
  'GET',
  '/v1/admin/managers',
  z.array(z.object({ id: z.string(), name: z.string(), createdAt: z.string(), revokedAt: z.string().nullable() })),
);

export const setManager = route('PUT', '/v1/admin/managers/:id', z.object({ id: z.string(), name: z.string() }));

export const removeManager = route(
  'DELETE',
  '/v1/admin/managers/:id',
  z.object({ id: z.string(), removed: z.boolean() }),
);

export const showConfig = route(
  'GET',
  '/v1/admin/config',
  z.object({
    ...scopedVersion,
    settings: body,
    override: body.nullable().optional(),
    /** the version the store's agent runs */
    agentRuns: nullableNumber.optional(),
  }),
  byStore,
);

export const configHistory = route('GET', '/v1/admin/config/history', z.array(versionRecord), history);

export const setConfig = route('PUT', '/v1/admin/config', z.object({ ...scopedVersion, settings: body }));
