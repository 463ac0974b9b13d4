import type { Decision } from './api';
import { clock } from './format';
import { AuthzChart } from './charts';

/** Return decisions, newest first, as the hub commits them. */
export function Decisions({ list, now }: { list: Decision[]; now: number }) {
  return (
    <section class="decisions" aria-labelledby="decisions-title">
      <div class="section-head">
        <h2 id="decisions-title">Return decisions</h2>
        <p class="summary">{list.length === 0 ? 'none yet' : `latest ${list.length}`}</p>
      </div>
      <AuthzChart list={list} now={now} />
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
            </li>
          ))}
        </ol>
      </div>
    </section>
  );
}
