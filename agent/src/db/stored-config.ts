import * as z from 'zod';
import { describeZodError } from '@tillbridge/shared';
import { getMeta, type Db } from './agent-db.js';

/**
 * What the hub pushed and the agent keeps in its meta table under `key`, as `{"version": n,
 * "<field>": value}`: absent (never pushed), read, or there but unreadable (an older or newer
 * agent's shape, a damaged row) — then `problem` says why in one line (the first three problems),
 * and `err` is the error.
 */
export type StoredConfig<T> =
  | { state: 'absent' }
  | { state: 'read'; version: number; value: T }
  | { state: 'invalid'; problem: string; err: unknown };

export function readStoredConfig<T>(db: Db, key: string, field: string, schema: z.ZodType<T>): StoredConfig<T> {
  const stored = getMeta(db, key);
  if (stored === undefined) return { state: 'absent' };
  let json: unknown;
  try {
    json = JSON.parse(stored);
  } catch (err) {
    return { state: 'invalid', problem: `not JSON: ${(err as Error).message}`, err };
  }
  const envelope = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  const version = z.number().int().nonnegative().safeParse(envelope.version);
  if (!version.success) return invalid(version.error, 'version');
  const value = schema.safeParse(envelope[field]);
  if (!value.success) return invalid(value.error, field);
  return { state: 'read', version: version.data, value: value.data };
}

function invalid(err: z.ZodError, root: string): StoredConfig<never> {
  return { state: 'invalid', problem: describeZodError(err, root).slice(0, 3).join('; '), err };
}
