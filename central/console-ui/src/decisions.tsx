import type { Decision } from './api';
import { clock } from './format';
import { AuthzChart, duration } from './charts';

/** Return decisions, newest first, as the hub commits them, with each online decision's latency at the hub. */
export function Decisions({ list }: { list: Decision[]; now: number }) {
  return (
    <section class="decisions" aria-labelledby="decisions-title">
      <div class="section-head">
        <h2 id="decisions-title">Return decisions</h2>
        <p class="summary">{list.length === 0 ? 'none yet' : `latest ${list.length}`}</p>
      </div>
      <AuthzChart />
      <div role="log" aria-live="polite" aria-label="Return decisions, newest first">
        <ol class="decision-list">
          {list.map((d) => (
            <li key={d.position} data-authorization={d.authorization}>
              <time dateTime={d.at}>{clock(d.at)}</time>
              <span class={`badge ${d.decision}`}>{d.decision}</span>
              <span class="where">
                {d.store ?? '—'}
                {d.register ? ` · ${d.register}` : ''}
              </span>
              <span class="mode">{d.mode ?? ''}</span>
              <span class="auth">{d.authorization}</span>
              <span class="latency" title="decision latency at the hub">
                {d.latencyMs === null ? '—' : duration(d.latencyMs)}
              </span>
            </li>
          ))}
        </ol>
      </div>
    </section>
  );
}
