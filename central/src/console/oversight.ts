import type { AuditEntry } from '../domain/audit-log.js';
import type { ConsoleQueries } from './fleet.js';
import { openExceptions } from './store.js';
import type { AuditRow, AuditView, ExceptionDetail } from './wire.js';

/** How many of the audit log's latest entries the console shows. */
export const AUDIT_TAIL = 50;
/** An exception's recorded detail is sent up to this size (JSON characters); beyond, a note says it was left out. */
const MAX_DETAIL = 4000;
const MAX_AUDIT_DETAILS = 500;

function detailOf(body: string | null): unknown {
  if (body === null) return null;
  if (body.length > MAX_DETAIL) return { note: `${body.length} characters: see tillbridge-hub returns exceptions` };
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}

/** Every open exception (newest first) with its recorded detail and the return it concerns. */
export function exceptionDetails(q: ConsoleQueries): ExceptionDetail[] {
  const bodies = new Map(q.exceptions.forStore().map((e) => [e.id, e.body]));
  return openExceptions(q).map((e) => {
    const r = e.authorization === null ? undefined : q.returnsRepo.get(e.authorization);
    return {
      ...e,
      detail: detailOf(bodies.get(e.id) ?? null),
      ticket: r
        ? {
            decision: r.decision,
            status: r.status,
            mode: r.mode,
            receipt: r.receipt,
            refundAmount: r.refund_amount,
            createdAt: r.created_at,
          }
        : null,
    };
  });
}

/** An audit entry as the console shows it (details cut at 500 characters). */
export function auditRow(e: AuditEntry): AuditRow {
  const details = e.details.length > MAX_AUDIT_DETAILS ? `${e.details.slice(0, MAX_AUDIT_DETAILS - 1)}…` : e.details;
  return {
    id: e.id,
    at: e.at,
    actor: e.actor,
    action: e.action,
    outcome: e.outcome,
    store: e.store,
    register: e.register,
    resource: e.resource,
    details,
    origin: e.origin,
  };
}

/**
 * The audit log's latest entries (newest first), the whole chain verified now as `tillbridge-hub audit verify` does
 * (a walk over every retained entry: asked for when the audit view is opened, never on the live stream), and the
 * last signed checkpoint.
 */
export function auditView(q: ConsoleQueries): AuditView {
  const latest = q.auditTrail.checkpoints.latest();
  return {
    tail: q.audit.tail(AUDIT_TAIL).reverse().map(auditRow),
    verify: q.auditTrail.verify(),
    checkpoint: latest
      ? {
          seq: latest.seq,
          id: latest.id,
          hash: latest.hash,
          at: latest.at,
          entries: latest.entries,
          fingerprint: latest.fingerprint,
        }
      : null,
  };
}
