import * as z from 'zod/mini';
import { admin } from './route.js';

/** An import running or recently finished: how far it got (docs/operations.md#imports). */
export const importProgress = z.object({
  id: z.string(),
  kind: z.string(),
  actor: z.string(),
  state: z.enum(['receiving', 'checking', 'applying', 'imported', 'refused', 'stopped', 'failed']),
  startedAt: z.string(),
  finishedAt: z.optional(z.string()),
  bytesReceived: z.number(),
  bytesExpected: z.optional(z.number()),
  bytesChecked: z.number(),
  rowsRead: z.number(),
  badRows: z.number(),
  rows: z.optional(z.number()),
  applied: z.number(),
  appliedThroughLine: z.optional(z.number()),
  transactions: z.number(),
  result: z.optional(z.record(z.string(), z.unknown())),
  error: z.optional(z.object({ code: z.string(), message: z.string() })),
});

/** Running ones and the last 50 finished, newest first. */
export const listImports = admin.get('/imports', z.array(importProgress));

export const showImport = admin.get('/imports/:id', importProgress);
