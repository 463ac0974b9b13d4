import { useEffect, useState } from 'preact/hooks';
import * as api from './api';
import { ago, clock, money, percent, version } from './format';
import { PlainTable } from './table';
import { useFresh, type Pushed } from './oversight';

/** "Up", or "Down" with the link's state: a register is down when nothing is connected to its endpoint. */
function stateOf(t: api.Terminal): string {
  return t.up ? 'Up' : `Down (${t.state})`;
}

/** "Register", or "Scanner → R1" (the register a scanner feeds). */
function kindOf(t: api.Terminal): string {
  if (t.kind !== 'scanner') return 'Register';
  return t.feeds ? `Scanner → ${t.feeds}` : 'Scanner';
}

function Registers({ list, now }: { list: api.Terminal[]; now: number }) {
  if (list.length === 0) return <p class="summary">No register reported by the agent yet.</p>;
  return (
    <PlainTable
      label="Registers and scanners"
      columns={[
        'Terminal',
        'Kind',
        'State',
        'Last message or scan',
        'Transport',
        'Codec',
        'Last error',
        'Register says',
        'Reported',
      ]}
    >
      {list.map((t) => (
        <tr key={t.register} data-register={t.register} data-kind={t.kind} class={t.up ? 'up' : 'down'}>
          <th scope="row">{t.register}</th>
          <td data-col="kind">{kindOf(t)}</td>
          <td data-col="state">{stateOf(t)}</td>
          <td>{ago(t.lastMessageAt, now)}</td>
          <td class="transport">{t.transport}</td>
          <td data-col="codec">{t.codec ?? '—'}</td>
          <td>{t.up ? '—' : (t.detail ?? '—')}</td>
          <td>{t.reported ? `${t.reported.state}${t.reported.detail ? `: ${t.reported.detail}` : ''}` : '—'}</td>
          <td>{ago(t.at, now)}</td>
        </tr>
      ))}
    </PlainTable>
  );
}

export function ExceptionsTable({ list, label }: { list: api.Exception[]; label: string }) {
  if (list.length === 0) return <p class="summary">No open exception.</p>;
  return (
    <PlainTable
      label={label}
      columns={['Raised', 'Store', 'Register', 'Kind', 'Code', 'Reason', 'Authorization or event']}
    >
      {list.map((e) => (
        <tr key={e.id} data-exception={e.id}>
          <td>
            <time dateTime={e.createdAt}>{new Date(e.createdAt).toLocaleString()}</time>
          </td>
          <td>{e.store}</td>
          <td>{e.register ?? '—'}</td>
          <td>{e.kind}</td>
          <td>{e.code}</td>
          <td>{e.reason}</td>
          <td>{e.authorization ?? e.eventId ?? '—'}</td>
        </tr>
      ))}
    </PlainTable>
  );
}

const NONE = <p class="summary">None among the hub's latest events.</p>;

function Sales({ list }: { list: api.Sale[] }) {
  return (
    <div>
      <h3>Latest sales</h3>
      {list.length === 0 ? (
        NONE
      ) : (
        <ol class="plain-list" aria-label="Latest sales">
          {list.map((x) => (
            <li key={x.position} data-receipt={x.receipt}>
              <time dateTime={x.at}>{clock(x.at)}</time> {x.receipt ?? '—'} · {x.register ?? 'other channel'} ·{' '}
              {money(x.total, x.currency)} · {x.lines} line{x.lines === 1 ? '' : 's'}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

function StoreDecisions({ list, store }: { list: api.Decision[]; store: string }) {
  return (
    <div>
      <h3>Return decisions</h3>
      {list.length === 0 ? (
        NONE
      ) : (
        <ol class="plain-list" aria-label={`Return decisions of store ${store}`}>
          {list.map((d) => (
            <li key={d.position} data-authorization={d.authorization}>
              <time dateTime={d.at}>{clock(d.at)}</time> <span class={`badge ${d.decision}`}>{d.decision}</span>
              {` · ${d.register ?? '—'} · ${d.mode ?? ''} · ${d.authorization}`}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

/**
 * A store's page: its row, registers and scanners and open exceptions (kept live by the stream), latest sales and
 * return decisions (those the stream brings added). `#/stores/ID`.
 */
export function StoreView(p: {
  id: string;
  live: api.LiveStore | undefined;
  terminals: api.Terminal[] | undefined;
  decisions: api.Decision[];
  now: number;
  /** the open exceptions the stream pushed */
  exceptions?: Pushed['exceptions'];
}) {
  const [page, setPage] = useState<api.Store | null>(null);
  const [freshExceptions] = useFresh(p.exceptions);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setPage(null);
    setError(null);
    api
      .store(p.id)
      .then(setPage)
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  }, [p.id]);

  const back = (
    <p>
      <a href="#/">← Fleet</a>
    </p>
  );
  if (error !== null)
    return (
      <section class="store-page" aria-labelledby="store-title">
        {back}
        <h2 id="store-title">Store {p.id}</h2>
        <p class="error" role="alert">
          {error}
        </p>
      </section>
    );
  if (page === null) return <p class="loading">Loading store {p.id}…</p>;
  const s = { ...page.store, ...p.live };
  const terminals = p.terminals ?? page.terminals;
  const seen = new Set(page.decisions.map((d) => d.position));
  const decisions = [...p.decisions.filter((d) => d.store === p.id && !seen.has(d.position)), ...page.decisions];
  const down = terminals.filter((t) => !t.up).length;
  return (
    <section class="store-page" aria-labelledby="store-title">
      {back}
      <div class="section-head">
        <h2 id="store-title">
          Store {s.store} · {s.name}
        </h2>
        <p class={`state ${s.connected ? 'online' : 'offline'}`} data-col="state">
          {s.connected ? 'Online' : 'Offline'}
        </p>
      </div>
      <dl class="facts">
        <dt>Agent</dt>
        <dd>{s.agentVersion ?? '—'}</dd>
        <dt>Last heard</dt>
        <dd>{ago(s.lastSeen, p.now)}</dd>
        <dt>Policy</dt>
        <dd>{version(s.policyVersion, s.policyHeld)}</dd>
        <dt>Settings</dt>
        <dd>{version(s.settingsVersion, s.settingsRun)}</dd>
        <dt>Accuracy</dt>
        <dd>{percent(s.inventoryAccuracy)}</dd>
      </dl>
      <h3>
        Registers and scanners{' '}
        <span class="summary">{terminals.length === 0 ? '' : `${down} down of ${terminals.length}`}</span>
      </h3>
      <Registers list={terminals} now={p.now} />
      <h3>Open exceptions</h3>
      <ExceptionsTable
        list={freshExceptions?.filter((e) => e.store === p.id) ?? page.exceptions}
        label={`Open exceptions of store ${s.store}`}
      />
      <div class="two">
        <Sales list={page.sales} />
        <StoreDecisions list={decisions} store={s.store} />
      </div>
    </section>
  );
}
