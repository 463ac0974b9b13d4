import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { LiveStore, StoreDetail } from './api';
import { age, ago, percent, version } from './format';

export type FleetRow = LiveStore &
  Partial<Pick<StoreDetail, 'policyVersion' | 'settingsVersion' | 'inventoryAccuracy'>>;

type SortKey = 'store' | 'name' | 'state' | 'agent' | 'seen' | 'outbox' | 'age' | 'accuracy';

interface Column {
  key: SortKey | null;
  label: string;
  cell(r: FleetRow, now: number): string;
}

const COLUMNS: Column[] = [
  { key: 'store', label: 'Store', cell: (r) => r.store },
  { key: 'name', label: 'Name', cell: (r) => r.name },
  { key: 'state', label: 'State', cell: (r) => (r.connected ? 'Online' : 'Offline') },
  { key: 'agent', label: 'Agent', cell: (r) => r.agentVersion ?? '—' },
  { key: 'seen', label: 'Last heard', cell: (r, now) => ago(r.lastSeen, now) },
  { key: 'outbox', label: 'Outbox', cell: (r) => (r.outboxDepth === null ? '—' : String(r.outboxDepth)) },
  { key: 'age', label: 'Oldest', cell: (r) => age(r.outboxAgeMs) },
  {
    key: null,
    label: 'Registers',
    cell: (r) => (r.registers ? `${r.registers.connected}/${r.registers.total}` : '—'),
  },
  { key: null, label: 'Policy', cell: (r) => version(r.policyVersion, r.policyHeld) },
  { key: null, label: 'Settings', cell: (r) => version(r.settingsVersion, r.settingsRun) },
  { key: 'accuracy', label: 'Accuracy', cell: (r) => percent(r.inventoryAccuracy) },
];

const num = (v: number | null | undefined): number => v ?? -1;

function compare(key: SortKey): (a: FleetRow, b: FleetRow) => number {
  switch (key) {
    case 'store':
      return (a, b) => a.store.localeCompare(b.store);
    case 'name':
      return (a, b) => a.name.localeCompare(b.name);
    case 'state':
      return (a, b) => Number(a.connected) - Number(b.connected);
    case 'agent':
      return (a, b) => (a.agentVersion ?? '').localeCompare(b.agentVersion ?? '', undefined, { numeric: true });
    case 'seen':
      return (a, b) => (a.lastSeen ?? '').localeCompare(b.lastSeen ?? '');
    case 'outbox':
      return (a, b) => num(a.outboxDepth) - num(b.outboxDepth);
    case 'age':
      return (a, b) => num(a.outboxAgeMs) - num(b.outboxAgeMs);
    case 'accuracy':
      return (a, b) => num(a.inventoryAccuracy) - num(b.inventoryAccuracy);
  }
}

interface Sort {
  key: SortKey;
  desc: boolean;
}

/** The column headers: a sortable column's header is a button (Enter or Space sorts; again: the other way). */
function HeadRow({ sort, setSort }: { sort: Sort; setSort: (f: (s: Sort) => Sort) => void }) {
  return (
    <div class="row head" role="row" aria-rowindex={1}>
      {COLUMNS.map(({ key, label }) => (
        <div
          role="columnheader"
          key={label}
          aria-sort={key !== null && key === sort.key ? (sort.desc ? 'descending' : 'ascending') : undefined}
        >
          {key === null ? (
            label
          ) : (
            <button
              type="button"
              onClick={() => {
                setSort((s) => ({ key, desc: s.key === key ? !s.desc : false }));
              }}
            >
              {label}
              {key === sort.key ? (sort.desc ? ' ▼' : ' ▲') : ''}
            </button>
          )}
        </div>
      ))}
    </div>
  );
}

type StateFilter = 'all' | 'online' | 'offline';

/** The filters above the table: text (store id or name) and state. */
function Filters(p: {
  text: string;
  setText: (t: string) => void;
  state: StateFilter;
  setState: (s: StateFilter) => void;
}) {
  const { text, setText, state, setState } = p;
  return (
    <div class="filters">
      <label>
        Filter
        <input type="search" value={text} placeholder="store or name" onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      <label>
        State
        <select value={state} onChange={(e) => setState(e.currentTarget.value as StateFilter)}>
          <option value="all">All</option>
          <option value="online">Online</option>
          <option value="offline">Offline</option>
        </select>
      </label>
    </div>
  );
}

/** Opens a store's page (its registers, sales, decisions, exceptions). */
export function openStore(store: string): void {
  location.hash = `#/stores/${encodeURIComponent(store)}`;
}

/** Each row's height in pixels (the stylesheet's .row height): what the virtual table's arithmetic rests on. */
const ROW_PX = 32;
const VIEW_PX = 480;
const OVERSCAN = 8;

/** The fleet: filter by text and state, sort by a column; only the rows in view are in the page (5,000 stores). */
export function Fleet({ rows, now }: { rows: FleetRow[]; now: number }) {
  const [text, setText] = useState('');
  const [state, setState] = useState<StateFilter>('all');
  const [sort, setSort] = useState<Sort>({ key: 'store', desc: false });
  const [top, setTop] = useState(0);
  const body = useRef<HTMLDivElement>(null);
  // a new filter or order starts at the top (the rows before would be at another place, or gone)
  useEffect(() => {
    if (body.current) body.current.scrollTop = 0;
    setTop(0);
  }, [text, state, sort]);

  const shown = useMemo(() => {
    const t = text.trim().toLowerCase();
    const out = rows.filter(
      (r) =>
        (state === 'all' || r.connected === (state === 'online')) &&
        (t === '' || r.store.toLowerCase().includes(t) || r.name.toLowerCase().includes(t)),
    );
    const cmp = compare(sort.key);
    out.sort((a, b) => (sort.desc ? -cmp(a, b) : cmp(a, b)) || a.store.localeCompare(b.store));
    return out;
  }, [rows, text, state, sort]);

  const online = rows.filter((r) => r.connected).length;
  const first = Math.max(0, Math.floor(top / ROW_PX) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((top + VIEW_PX) / ROW_PX) + OVERSCAN);
  const visible = shown.slice(first, last);

  return (
    <section class="fleet" aria-labelledby="fleet-title">
      <div class="section-head">
        <h2 id="fleet-title">Fleet</h2>
        <p class="summary" aria-live="polite">
          {online} of {rows.length} stores online · {shown.length} shown
        </p>
      </div>
      <Filters text={text} setText={setText} state={state} setState={setState} />
      <div class="table" role="table" aria-label="Stores" aria-rowcount={shown.length + 1}>
        <HeadRow sort={sort} setSort={setSort} />
        <div
          class="body"
          ref={body}
          role="rowgroup"
          tabIndex={0}
          aria-label="Stores, scroll with the arrow keys; Enter on a row opens its store"
          onScroll={(e) => setTop(e.currentTarget.scrollTop)}
        >
          <div class="spacer" style={{ height: `${shown.length * ROW_PX}px` }}>
            {visible.map((r, i) => (
              <div
                class={`row ${r.connected ? 'online' : 'offline'}`}
                role="row"
                key={r.store}
                data-store={r.store}
                aria-rowindex={first + i + 2}
                style={{ top: `${(first + i) * ROW_PX}px` }}
                tabIndex={0}
                title={`Open store ${r.store}`}
                onClick={() => openStore(r.store)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') openStore(r.store);
                }}
              >
                {COLUMNS.map((c) => (
                  <div role="cell" key={c.label} data-col={c.label.toLowerCase()}>
                    {c.cell(r, now)}
                  </div>
                ))}
              </div>
            ))}
          </div>
        </div>
      </div>
    </section>
  );
}
