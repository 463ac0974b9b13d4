/** How the tables write times, ages and numbers. */

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago"; "—" when never. */
export function ago(iso: string | null, now: number): string {
  if (iso === null) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** An age in milliseconds: "0.8 s", "4 min". */
export function age(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`;
  return `${Math.floor(ms / 3_600_000)} h`;
}

/** The time of day (local), for the decisions list. */
export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** "v3" or "v3 (agent v2)" when the agent holds another version than the one in effect. */
export function version(inEffect: number | undefined, held: number | null): string {
  if (inEffect === undefined) return held === null ? '—' : `agent v${held}`;
  return held === null || held === inEffect ? `v${inEffect}` : `v${inEffect} (agent v${held})`;
}

export function percent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(1)} %`;
}

/** Minor units with their currency: "30.00 EUR"; "—" when unknown. */
export function money(minor: number | null, currency: string | null): string {
  if (minor === null) return '—';
  return `${(minor / 100).toFixed(2)}${currency ? ` ${currency}` : ''}`;
}
