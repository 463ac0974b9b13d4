import { z } from 'zod';
import { admin } from './route.js';

/** An import running or recently finished: how far it got (docs/operations.md#imports). */
export const importProgress = z.object({
  id: z.string(),
  kind: z.string(),
  actor: z.string(),
  state: z.enum(['receiving', 'checking', 'applying', 'imported', 'refused', 'stopped', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  bytesReceived: z.number(),
  bytesExpected: z.number().optional(),
  bytesChecked: z.number(),
  rowsRead: z.number(),
  badRows: z.number(),
  rows: z.number().optional(),
  applied: z.number(),
  appliedThroughLine: z.number().optional(),
  transactions: z.number(),
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

/** Running ones and the last 50 finished, newest first. */
export const listImports = admin.get('/imports', z.array(importProgress));

export const showImport = admin.get('/imports/:id', importProgress);
