/** The console's JSON API (central/src/console/server.ts), all on the hub that served the page. */

import type {
  AuditRow,
  AuditView,
  DecisionRow,
  ExceptionDetail as ExceptionDetailRow,
  ExceptionView,
  LiveStoreRow,
  SaleRow,
  StorePage,
  StoreRowDetail,
  TerminalRow,
  Timeline as TimelineData,
} from '../../src/console/wire';

export interface Session {
  signedIn: boolean;
  name?: string;
  role?: string;
}

export type LiveStore = LiveStoreRow;
export type StoreDetail = StoreRowDetail;
export type Decision = DecisionRow;
export type Terminal = TerminalRow;
export type Sale = SaleRow;
export type Exception = ExceptionView;
export type Store = StorePage;
export type ExceptionDetail = ExceptionDetailRow;
export type Audit = AuditView;
export type AuditEntry = AuditRow;
export type Timeline = TimelineData;

const BASE = '/console/api/';

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(body.message ?? `the hub answered ${res.status}`);
  return body;
}

async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(BASE + path, { credentials: 'same-origin', headers: { accept: 'application/json' } }));
}

async function post<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(BASE + path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  return answer<T>(res);
}

export const session = (): Promise<Session> => getJson<Session>('session');
export const signIn = (token: string): Promise<Session> => post<Session>('sign-in', { token });
export const signOut = (): Promise<unknown> => post('sign-out', {});
export const fleet = (): Promise<{ now: string; stores: StoreDetail[] }> => getJson('fleet');
export const decisions = (): Promise<{ decisions: Decision[] }> => getJson('decisions');
export const exceptions = (): Promise<{ exceptions: ExceptionDetail[] }> => getJson('exceptions');
export const audit = (): Promise<Audit> => getJson('audit');
export const store = (id: string): Promise<Store> => getJson(`stores/${encodeURIComponent(id)}`);
export const timeline = (): Promise<Timeline> => getJson('timeline');

/** Who hears the live stream's `timeline` events (the charts, charts.tsx), whatever view is open. */
const timelineListeners = new Set<(t: Timeline) => void>();

/** Hears each timeline the live stream brings, until the function returned is called. */
export function onTimeline(listener: (t: Timeline) => void): () => void {
  timelineListeners.add(listener);
  return () => timelineListeners.delete(listener);
}

export interface LiveHandlers {
  stores(rows: LiveStore[]): void;
  decision(d: Decision): void;
  /** a store's registers, when a report of its agent changed them */
  terminals(t: { store: string; terminals: Terminal[] }): void;
  /** the open exceptions, when one is raised or settled */
  exceptions?(list: ExceptionDetail[]): void;
  /** audit entries as they are appended, newest first */
  audit?(entries: AuditEntry[]): void;
  state(s: 'live' | 'reconnecting' | 'closed'): void;
}

/** The live stream: every store's row first, then the rows that change and each decision as it is made. */
export function live(h: LiveHandlers): () => void {
  const es = new EventSource(BASE + 'events');
  es.addEventListener('open', () => h.state('live'));
  es.addEventListener('error', () => h.state(es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  es.addEventListener('stores', (e) => h.stores(JSON.parse((e as MessageEvent<string>).data) as LiveStore[]));
  es.addEventListener('decision', (e) => h.decision(JSON.parse((e as MessageEvent<string>).data) as Decision));
  es.addEventListener('timeline', (e) => {
    const t = JSON.parse((e as MessageEvent<string>).data) as Timeline;
    for (const l of timelineListeners) l(t);
  });
  es.addEventListener('terminals', (e) =>
    h.terminals(JSON.parse((e as MessageEvent<string>).data) as { store: string; terminals: Terminal[] }),
  );
  es.addEventListener('exceptions', (e) =>
    h.exceptions?.(JSON.parse((e as MessageEvent<string>).data) as ExceptionDetail[]),
  );
  es.addEventListener('audit', (e) => h.audit?.(JSON.parse((e as MessageEvent<string>).data) as AuditEntry[]));
  return () => es.close();
}
