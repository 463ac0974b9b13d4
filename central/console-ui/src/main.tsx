import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api';
import { Fleet, type FleetRow } from './fleet';
import { Decisions } from './decisions';
import { StoreView } from './store';
import { AuditView, ExceptionsView, useOversightPushes, type Pushed } from './oversight';
import { ActivityView } from './charts';
import './style.css';

const MAX_DECISIONS = 200;

type Route =
  { view: 'fleet' } | { view: 'store'; id: string } | { view: 'exceptions' } | { view: 'audit' } | { view: 'activity' };

/** What the address asks for: #/stores/ID, #/exceptions, #/audit, else the fleet. */
function routeOf(hash: string): Route {
  if (hash === '#/exceptions') return { view: 'exceptions' };
  if (hash === '#/audit') return { view: 'audit' };
  if (hash === '#/activity') return { view: 'activity' };
  const m = /^#\/stores\/([^/]+)$/.exec(hash);
  try {
    return m?.[1] ? { view: 'store', id: decodeURIComponent(m[1]) } : { view: 'fleet' };
  } catch {
    return { view: 'fleet' };
  }
}

function useRoute(): Route {
  const [route, setRoute] = useState(routeOf(location.hash));
  useEffect(() => {
    const changed = (): void => setRoute(routeOf(location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

/** The views, in the header: the current one is marked (aria-current). */
function Nav({ route }: { route: Route }) {
  const item = (href: string, label: string, on: boolean) => (
    <a href={href} aria-current={on ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <nav aria-label="Views">
      {item('#/', 'Fleet', route.view === 'fleet' || route.view === 'store')}
      {item('#/activity', 'Activity', route.view === 'activity')}
      {item('#/exceptions', 'Exceptions', route.view === 'exceptions')}
      {item('#/audit', 'Audit', route.view === 'audit')}
    </nav>
  );
}

function View(p: {
  route: Route;
  rows: FleetRow[];
  live: Map<string, api.LiveStore>;
  terminals: Map<string, api.Terminal[]>;
  decisions: api.Decision[];
  now: number;
  pushed: Pushed;
}) {
  const { route } = p;
  if (route.view === 'exceptions') return <ExceptionsView pushed={p.pushed.exceptions} />;
  if (route.view === 'audit') return <AuditView pushed={p.pushed.audit} />;
  if (route.view === 'activity') return <ActivityView />;
  if (route.view === 'fleet') return <Fleet rows={p.rows} now={p.now} />;
  return (
    <StoreView
      key={route.id}
      id={route.id}
      live={p.live.get(route.id)}
      terminals={p.terminals.get(route.id)}
      decisions={p.decisions}
      now={p.now}
      exceptions={p.pushed.exceptions}
    />
  );
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
  const [pushed, oversight] = useOversightPushes();
  const route = useRoute();

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
      ...oversight,
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
        <Nav route={route} />
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
        <View
          route={route}
          rows={rows}
          live={liveRows}
          terminals={terminals}
          decisions={list}
          now={now}
          pushed={pushed}
        />
        <Decisions list={list} now={now} />
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
