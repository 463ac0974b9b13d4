import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from './api';
import { money } from './format';
import { PlainTable } from './table';

/** Fetches once when shown, and again on Refresh; the answer, an error, or null while it comes. */
function useLoad<T>(load: () => Promise<T>): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    setError(null);
    load()
      .then(setData)
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  }, [n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}

/** The audit entries the views show: the latest 50. */
const AUDIT_KEPT = 50;

/** Entries of both lists once each, newest first, the latest AUDIT_KEPT. */
function newestFirst(a: api.AuditEntry[], b: api.AuditEntry[]): api.AuditEntry[] {
  const seen = new Set<number>();
  return [...a, ...b]
    .filter((e) => !seen.has(e.id) && Boolean(seen.add(e.id)))
    .sort((x, y) => y.id - x.id)
    .slice(0, AUDIT_KEPT);
}

/**
 * What the live stream pushed: the open exceptions as last sent (`n` counts the pushes, so a view tells a push made
 * since it opened from one before), and the audit entries appended since the page loaded (newest first).
 */
export interface Pushed {
  exceptions: { n: number; list: api.ExceptionDetail[] } | undefined;
  audit: api.AuditEntry[];
}

/** The pushes of the live stream kept for the views, and the stream's handlers that keep them. */
export function useOversightPushes(): [Pushed, Required<Pick<api.LiveHandlers, 'exceptions' | 'audit'>>] {
  const [exceptions, setExceptions] = useState<Pushed['exceptions']>(undefined);
  const [audit, setAudit] = useState<api.AuditEntry[]>([]);
  return [
    { exceptions, audit },
    {
      exceptions: (list) => setExceptions((x) => ({ n: (x?.n ?? 0) + 1, list })),
      audit: (entries) => setAudit((a) => newestFirst(entries, a)),
    },
  ];
}

/**
 * The open exceptions pushed since the view opened (or was refreshed: `rebase`), else undefined — the view then shows
 * what it read.
 */
export function useFresh(pushed: Pushed['exceptions']): [api.ExceptionDetail[] | undefined, () => void] {
  const base = useRef(pushed?.n ?? 0);
  return [pushed && pushed.n > base.current ? pushed.list : undefined, () => (base.current = pushed?.n ?? 0)];
}

function Head({ id, title, summary, reload }: { id: string; title: string; summary: string; reload: () => void }) {
  return (
    <div class="section-head">
      <h2 id={id}>{title}</h2>
      <p class="summary">{summary}</p>
      <button type="button" onClick={reload}>
        Refresh
      </button>
    </div>
  );
}

const when = (iso: string): string => new Date(iso).toLocaleString();

function ExceptionItem({ e }: { e: api.ExceptionDetail }) {
  return (
    <li data-exception={e.id}>
      <details>
        <summary>
          <time dateTime={e.createdAt}>{when(e.createdAt)}</time> · {e.store}
          {e.register ? ` · ${e.register}` : ''} · <strong>{e.code}</strong> · {e.reason}
        </summary>
        <dl class="facts exception">
          <dt>Kind</dt>
          <dd>{e.kind}</dd>
          <dt>Authorization</dt>
          <dd>{e.authorization ?? '—'}</dd>
          <dt>Event</dt>
          <dd>{e.eventId ?? '—'}</dd>
          <dt>Return</dt>
          <dd>
            {e.ticket
              ? `${e.ticket.decision}, ${e.ticket.status}, ${e.ticket.mode}, receipt ${e.ticket.receipt || '—'}, ` +
                `refund ${money(e.ticket.refundAmount, null)}`
              : '—'}
          </dd>
        </dl>
        {e.detail !== null && <pre class="detail">{JSON.stringify(e.detail, null, 2)}</pre>}
        <p class="hint">Settle it with: tillbridge-hub returns resolve {e.id} --action accept|reverse --note "…"</p>
      </details>
    </li>
  );
}

/** Every open exception, newest first; each opens on its detail. Kept live: the stream pushes them as they change. */
export function ExceptionsView({ pushed }: { pushed: Pushed['exceptions'] }) {
  const { data, error, reload } = useLoad(api.exceptions);
  const [fresh, rebase] = useFresh(pushed);
  const list = fresh ?? data?.exceptions ?? [];
  return (
    <section class="oversight" aria-labelledby="exceptions-title">
      <Head
        id="exceptions-title"
        title="Open exceptions"
        summary={data === null && fresh === undefined ? 'loading…' : `${list.length} open`}
        reload={() => {
          rebase();
          reload();
        }}
      />
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {(data !== null || fresh !== undefined) && list.length === 0 && <p class="summary">No open exception.</p>}
      <ul class="exception-list" aria-label="Open exceptions, newest first">
        {list.map((e) => (
          <ExceptionItem key={e.id} e={e} />
        ))}
      </ul>
    </section>
  );
}

function Verify({ v }: { v: api.Audit['verify'] }) {
  if (v.ok)
    return (
      <p class="verify ok" data-verify="ok">
        Chain verified: {v.entries} entries ({v.from}–{v.to}), {v.checkpoints} signed checkpoint
        {v.checkpoints === 1 ? '' : 's'} checked, head {v.head.slice(0, 16)}…
      </p>
    );
  return (
    <p class="verify bad" data-verify="broken" role="alert">
      Chain broken at entry {v.firstBad}: {v.problem}
    </p>
  );
}

function Checkpoint({ c }: { c: api.Audit['checkpoint'] }) {
  if (c === null) return <p class="checkpoint">No signed checkpoint yet (tillbridge-hub audit checkpoint --now).</p>;
  return (
    <p class="checkpoint" data-checkpoint={c.seq}>
      Last signed checkpoint: #{c.seq}, <time dateTime={c.at}>{when(c.at)}</time>, up to entry {c.id} ({c.entries}{' '}
      entries), key {c.fingerprint}
    </p>
  );
}

/**
 * The audit log's tail (the entries the stream pushes added as they are appended), the chain verified when the view
 * is opened (or refreshed), the last signed checkpoint.
 */
export function AuditView({ pushed }: { pushed: api.AuditEntry[] }) {
  const { data, error, reload } = useLoad(api.audit);
  const tail = data === null ? [] : newestFirst(pushed, data.tail);
  return (
    <section class="oversight" aria-labelledby="audit-title">
      <Head
        id="audit-title"
        title="Audit log"
        summary={data === null ? 'verifying…' : `latest ${tail.length}`}
        reload={reload}
      />
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {data !== null && (
        <>
          <Verify v={data.verify} />
          <Checkpoint c={data.checkpoint} />
          <PlainTable
            label="Audit log, newest first"
            columns={['#', 'Time', 'Actor', 'Action', 'Outcome', 'Store', 'Resource', 'Details']}
          >
            {tail.map((e) => (
              <tr key={e.id} data-entry={e.id}>
                <td>{e.id}</td>
                <td>
                  <time dateTime={e.at}>{when(e.at)}</time>
                </td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>{e.outcome}</td>
                <td>{e.store ? `${e.store}${e.register ? ` · ${e.register}` : ''}` : '—'}</td>
                <td>{e.resource ?? '—'}</td>
                <td class="details">{e.details}</td>
              </tr>
            ))}
          </PlainTable>
        </>
      )}
    </section>
  );
}
