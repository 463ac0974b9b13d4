import type { AuditEntry } from '../domain/audit-log.js';

/** An audit entry as exported and verified: every stored field, `origin` included (null when unknown). */
export type ExportedEntry = AuditEntry;

/** Column order of an export (the CSV header; the key order of a JSON line). */
export const EXPORT_FIELDS = [
  'id',
  'at',
  'actor',
  'action',
  'store',
  'register',
  'outcome',
  'origin',
  'resource',
  'details',
  'prev_hash',
  'hash',
] as const;

/** A stored row in export field order (EXPORT_FIELDS: the key order of a JSON line). */
export function fromRow(r: AuditEntry): ExportedEntry {
  return {
    id: r.id,
    at: r.at,
    actor: r.actor,
    action: r.action,
    store: r.store,
    register: r.register,
    outcome: r.outcome,
    origin: r.origin ?? null, // entries from an older hub's API may lack it
    resource: r.resource,
    details: r.details,
    prev_hash: r.prev_hash,
    hash: r.hash,
  };
}
