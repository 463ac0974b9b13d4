import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api';
import { Fleet, type FleetRow } from './fleet';
import { Decisions } from './decisions';
import { StoreView } from './store';
import './style.css';

const MAX_DECISIONS = 200;

/** The store whose page the address asks for (#/stores/ID), or null: the fleet. */
function storeInHash(): string | null {
  const m = /^#\/stores\/([^/]+)$/.exec(location.hash);
  if (!m?.[1]) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

function useStoreInHash(): string | null {
  const [store, setStore] = useState(storeInHash());
  useEffect(() => {
    const changed = (): void => setStore(storeInHash());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return store;
}

function SignIn({ onSignedIn }: { onSignedIn: (s: api.Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="sign-in">
      <h1>Tillbridge console</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          api
            .signIn(token)
            .then(onSignedIn)
            .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)))
            .finally(() => setBusy(false));
        }}
      >
        <label for="token">Operator or admin token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error !== null && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
      <p class="hint">Read-only: every change is made with tillbridge-hub.</p>
    </main>
  );
}

function Console({ who, onSignedOut }: { who: api.Session; onSignedOut: () => void }) {
  const [details, setDetails] = useState(new Map<string, api.StoreDetail>());
  const [liveRows, setLive] = useState(new Map<string, api.LiveStore>());
  const [list, setList] = useState<api.Decision[]>([]);
  const [state, setState] = useState<'connecting' | 'live' | 'reconnecting' | 'closed'>('connecting');
  const [now, setNow] = useState(Date.now());
  const [terminals, setTerminals] = useState(new Map<string, api.Terminal[]>());
  const store = useStoreInHash();

  useEffect(() => {
    const stop = api.live({
      stores: (rows) =>
        setLive((m) => {
          const next = new Map(m);
          for (const r of rows) next.set(r.store, r);
          return next;
        }),
      decision: (d) =>
        setList((l) => (l.some((x) => x.position === d.position) ? l : [d, ...l].slice(0, MAX_DECISIONS))),
      terminals: (t) =>
        setTerminals((m) => {
          const next = new Map(m);
          next.set(t.store, t.terminals);
          return next;
        }),
      state: (s) => {
        setState(s);
        // the stream refused (session over): back to sign-in
        if (s === 'closed') void api.session().then((x) => !x.signedIn && onSignedOut());
      },
    });
    void api.fleet().then((f) => setDetails(new Map(f.stores.map((s) => [s.store, s]))));
    void api.decisions().then((d) =>
      setList((l) => {
        const seen = new Set(l.map((x) => x.position));
        return [...l, ...d.decisions.filter((x) => !seen.has(x.position))]
          .sort((a, b) => b.position - a.position)
          .slice(0, MAX_DECISIONS);
      }),
    );
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      stop();
      clearInterval(tick);
    };
  }, []);

  // the live row (presence) over the details read at load (versions, accuracy)
  const rows: FleetRow[] = [...liveRows.values()].map((l) => ({ ...details.get(l.store), ...l }));

  return (
    <div class="console">
      <header>
        <h1>Tillbridge console</h1>
        <p class={`live ${state}`} role="status">
          {state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
        </p>
        <p class="who">
          {who.name} ({who.role})
        </p>
        <button type="button" onClick={() => void api.signOut().finally(onSignedOut)}>
          Sign out
        </button>
      </header>
      <main>
        {store === null ? (
          <Fleet rows={rows} now={now} />
        ) : (
          <StoreView
            key={store}
            id={store}
            live={liveRows.get(store)}
            terminals={terminals.get(store)}
            decisions={list}
            now={now}
          />
        )}
        <Decisions list={list} />
      </main>
    </div>
  );
}

function App() {
  const [who, setWho] = useState<api.Session | null>(null);
  useEffect(() => {
    void api.session().then(setWho);
  }, []);
  if (who === null) return <p class="loading">Loading…</p>;
  if (!who.signedIn) return <SignIn onSignedIn={setWho} />;
  return <Console who={who} onSignedOut={() => setWho({ signedIn: false })} />;
}

const root = document.getElementById('app');
if (root) render(<App />, root);
