import * as z from 'zod/mini';
import { admin } from './route.js';

const nullableString = z.nullable(z.string());

/** What the hub says of a connected agent (its hello): status and stores list show it. */
export const agentView = z.object({
  software: nullableString,
  version: nullableString,
  os: z.nullable(z.object({ platform: z.string(), release: z.string(), arch: z.string() })),
  startedAt: nullableString,
  uptimeMs: z.nullable(z.number()),
  protocol: z.number(),
  belowMinimum: z.boolean(),
});

export const listStores = admin.get(
  '/stores',
  z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      createdAt: z.string(),
      lastSeenAt: nullableString,
      connected: z.boolean(),
      agent: z.nullable(agentView),
    }),
  ),
);

export const createStore = admin.post('/stores', z.object({ store: z.string(), name: z.string(), apiKey: z.string() }));

export const minAgentVersion = admin.get('/stores/min-version', z.object({ minAgentVersion: nullableString }));

export const setMinAgentVersion = admin.put(
  '/stores/min-version',
  z.object({ minAgentVersion: nullableString, previous: nullableString }),
);

export const createEnrollment = admin.post(
  '/stores/:store/enrollments',
  z.object({ id: z.string(), code: z.string(), store: z.string(), expiresAt: z.string(), fingerprint: nullableString }),
);

export const listEnrollments = admin.get(
  '/enrollments',
  z.array(
    z.object({
      id: z.string(),
      store: z.string(),
      createdAt: z.string(),
      expiresAt: z.string(),
      createdBy: z.string(),
      state: z.enum(['pending', 'used', 'expired']),
      usedAt: nullableString,
      usedFrom: nullableString,
    }),
  ),
  z.object({ store: z.optional(z.string()) }),
);
