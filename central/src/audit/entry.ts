import { entryHash, type AuditEntry } from '../domain/audit-log.js';

/** An audit entry as exported and verified: every stored field, `origin` included (null when unknown). */
export interface ExportedEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  store: string | null;
  register: string | null;
  outcome: string;
  origin: string | null;
  resource: string | null;
  /** The details exactly as stored (JSON text): the hash covers these bytes. */
  details: string;
  prev_hash: string;
  hash: string;
}

/** Column order of an export (the CSV header; the key order of a JSON line). */
export const EXPORT_FIELDS = ['id', 'at', 'actor', 'action', 'store', 'register', 'outcome', 'origin', 'resource', 'details', 'prev_hash', 'hash'] as const;

/**
 * The chain hash of an entry. Without an origin it is exactly the audit log's `entryHash`; with
 * one, the origin is appended to the hashed fields (so entries written before the column existed
 * keep their hashes).
 */
export function chainHash(e: Omit<ExportedEntry, 'hash' | 'origin'> & { origin?: string | null }): string {
  return entryHash(e);
}

/** A stored row (with or without the origin column) in export shape and field order. */
export function fromRow(r: AuditEntry & { origin?: string | null }): ExportedEntry {
  return {
    id: r.id,
    at: r.at,
    actor: r.actor,
    action: r.action,
    store: r.store,
    register: r.register,
    outcome: r.outcome,
    origin: r.origin ?? null,
    resource: r.resource,
    details: r.details,
    prev_hash: r.prev_hash,
    hash: r.hash,
  };
}
