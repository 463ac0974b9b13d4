import type { TerminalRow as StoredTerminal } from '../domain/terminals.js';
import { exceptionFields, type ExceptionRow } from '../domain/exceptions.js';
import type { FeedEntry } from '../feed/feed.js';
import { detailRow, recentDecisions, type ConsoleQueries } from './fleet.js';
import type { ExceptionView, SaleRow, StorePage, TerminalRow } from './wire.js';

/** How many of a store's latest sales and decisions its page lists. */
export const STORE_RECENT = 50;

export function terminalOf(t: StoredTerminal): TerminalRow {
  return {
    register: t.register,
    kind: t.kind ?? 'register',
    codec: t.codec,
    feeds: t.feeds,
    up: t.state === 'connected' && t.connections > 0,
    state: t.state,
    detail: t.detail,
    transport: t.transport,
    connections: t.connections,
    reported: t.reported_state ? { state: t.reported_state, detail: t.reported_detail, at: t.reported_at } : null,
    lastMessageAt: t.last_message_at,
    at: t.at,
  };
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function saleOf(e: FeedEntry): SaleRow {
  const d = e.data;
  return {
    position: e.position,
    at: text(d.at) ?? e.at,
    receipt: text(d.receipt),
    register: text(d.register),
    currency: text(d.currency),
    total: typeof d.total === 'number' ? d.total : null,
    lines: Array.isArray(d.lines) ? d.lines.length : 0,
  };
}

export function exceptionOf(e: ExceptionRow): ExceptionView {
  return exceptionFields(e);
}

/** The exceptions not yet resolved (one store's when given), newest first. */
export function openExceptions(q: ConsoleQueries, store?: string): ExceptionView[] {
  return q.exceptions
    .forStore(store)
    .filter((e) => e.resolved_at === null)
    .map(exceptionOf)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
}

/**
 * A store's page: its row, its registers as its agent last reported them, its latest sales and return decisions (the
 * store's newest on the feed) and its open exceptions. Undefined when there is no such store.
 */
export function storePage(q: ConsoleQueries, id: string): StorePage | undefined {
  const s = q.stores.get(id);
  if (!s) return undefined;
  return {
    store: detailRow(q, s),
    terminals: q.terminals.list(id).map(terminalOf),
    sales: q.erpFeed.latestOf(['sale.recorded'], STORE_RECENT, id).map(saleOf),
    decisions: recentDecisions(q, STORE_RECENT, id),
    exceptions: openExceptions(q, id),
  };
}
