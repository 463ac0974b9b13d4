import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import * as api from './api';

/**
 * The charts over time: the fleet's last 30 minutes, one value per minute, as the hub computes them
 * (GET /console/api/timeline, then each `timeline` event of the live stream). Drawn by uPlot on a canvas; its
 * stylesheet is bundled (the CSP allows no inline style sheet). Each chart's accessible name says its latest values in
 * words.
 */

/** The newest timeline the page has (kept while the page is open: every chart starts from it). */
let newest: api.Timeline | null = null;

/** The hub's timeline: the newest the page has, then each one the live stream brings. */
export function useTimeline(): api.Timeline | null {
  const [t, setT] = useState(newest);
  useEffect(() => {
    const take = (x: api.Timeline): void => {
      if (!newest || x.at >= newest.at) newest = x;
      setT(newest);
    };
    const stop = api.onTimeline(take);
    api
      .timeline()
      .then(take)
      .catch(() => undefined); // the live stream brings one anyway
    return stop;
  }, []);
  return t;
}

type Values = (number | null)[];
type Unit = 'count' | 'share' | 'ms';

interface Line {
  label: string;
  color: string;
  dash?: number[];
  values: Values;
}

const sum = (xs: Values): number => xs.reduce<number>((a, b) => a + (b ?? 0), 0);

/** "4.5 ms", "320 ms", "1.2 s", "2.0 min". */
export function duration(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

const share = (r: number): string => `${(r * 100).toFixed(r === 1 || r === 0 ? 0 : 1)} %`;

/** The time of day a minute (seconds since the epoch) starts, e.g. 14:05. */
const hhmm = (sec: number): string =>
  new Date(sec * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });

/** The last minute with a value in `values`: its index, or -1. */
function lastIndex(values: Values): number {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return i;
  return -1;
}

function color(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

const AXIS_VALUES: Record<Unit, (u: uPlot, splits: number[]) => string[]> = {
  count: (_u, splits) => splits.map((v) => String(v)),
  share: (_u, splits) => splits.map((v) => `${Math.round(v * 100)} %`),
  ms: (_u, splits) => splits.map((v) => (v === 0 ? '0' : duration(v))),
};

/** One chart: a line per series over the timeline's minutes; `label` is its accessible name. */
function Chart(p: {
  title: string;
  label: string;
  unit: Unit;
  minutes: number[];
  lines: Line[];
  /** a series with a value every minute (a count) needs no dots */
  everyMinute?: boolean;
  data?: object;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    plot.current = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height: 150,
        legend: { show: true, live: false },
        cursor: { show: false },
        scales: {
          x: { time: true },
          y: { range: (_u, _min, max) => [0, p.unit === 'share' ? 1 : Math.max(1, max)] },
        },
        axes: [{ values: (_u, splits) => splits.map((v) => hhmm(v)) }, { size: 64, values: AXIS_VALUES[p.unit] }],
        // points drawn too where minutes may have no value (null): a minute alone between them still shows
        series: [
          {},
          ...p.lines.map((l) => ({
            label: l.label,
            stroke: l.color,
            width: 2,
            dash: l.dash ?? [],
            points: { show: !p.everyMinute, size: 5, fill: l.color },
          })),
        ],
      },
      [[], ...p.lines.map(() => [])],
      el,
    );
    const resized = new ResizeObserver(() =>
      plot.current?.setSize({ width: Math.max(240, el.clientWidth), height: 150 }),
    );
    resized.observe(el);
    return () => {
      resized.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData([p.minutes, ...p.lines.map((l) => l.values)] as uPlot.AlignedData);
  }, [p.minutes, ...p.lines.map((l) => l.values)]);

  return (
    <figure class="chart">
      <figcaption>{p.title}</figcaption>
      <div ref={box} role="img" aria-label={p.label} {...p.data} />
    </figure>
  );
}

const MINUTES = 30;

/** What the chart of authorizations per minute says, in words (its accessible name). */
export function describeAuthorizations(t: Pick<api.Timeline, 'online' | 'offline'>): string {
  return (
    `Authorizations per minute, last ${MINUTES} minutes: ${sum(t.online)} online, ${sum(t.offline)} offline; ` +
    `this minute ${t.online.at(-1) ?? 0} online, ${t.offline.at(-1) ?? 0} offline`
  );
}

/** Of the decisions of the last 30 minutes and of the latest minute with any, the share authorized, in words. */
export function describeSuccess(t: api.Timeline): string {
  const head = `Authorization success rate (decisions that authorized the return), last ${MINUTES} minutes: `;
  const decided = t.online.map((n, i) => n + (t.offline[i] ?? 0));
  const total = sum(decided);
  const i = lastIndex(t.successRate);
  if (total === 0 || i < 0) return `${head}no decisions`;
  const authorized = sum(t.successRate.map((r, k) => (r ?? 0) * (decided[k] ?? 0)));
  const minute = t.minutes[i] ?? 0;
  return (
    `${head}${share(authorized / total)} of ${total}; ` +
    `latest at ${hhmm(minute)}: ${share(t.successRate[i] ?? 0)} of ${decided[i] ?? 0}`
  );
}

/** The latest minute's median and 99th percentile of a latency, in words. */
export function describeLatency(what: string, minutes: number[], p50: Values, p99: Values, none: string): string {
  const head = `${what}, last ${MINUTES} minutes: `;
  const i = lastIndex(p50);
  if (i < 0) return `${head}${none}`;
  return (
    `${head}latest at ${hhmm(minutes[i] ?? 0)}: median ${duration(p50[i] ?? 0)}, ` +
    `99th percentile ${duration(p99[i] ?? 0)}`
  );
}

export function describeOutbox(t: api.Timeline): string {
  const head = `Outbox depth across stores, last ${MINUTES} minutes: `;
  const i = lastIndex(t.outboxTotal);
  if (i < 0) return `${head}no store reported its outbox`;
  return (
    `${head}latest at ${hhmm(t.minutes[i] ?? 0)}: ${t.outboxTotal[i] ?? 0} events waiting in all, ` +
    `${t.outboxDeepest[i] ?? 0} at the deepest store`
  );
}

export function describeWebhooks(t: api.Timeline): string {
  return (
    `Webhook deliveries per minute, last ${MINUTES} minutes: ${sum(t.delivered)} delivered, ${sum(t.failed)} failed, ` +
    `${sum(t.abandoned)} abandoned; this minute ${t.delivered.at(-1) ?? 0} delivered, ${t.failed.at(-1) ?? 0} ` +
    `failed, ${t.abandoned.at(-1) ?? 0} abandoned`
  );
}

/** Authorizations per minute, online and offline, the whole fleet's (above the decisions list). */
export function AuthzChart() {
  const t = useTimeline();
  const ok = color('--ok', '#0b6b2f');
  const accent = color('--accent', '#0a4fa6');
  const online = t?.online ?? [];
  const offline = t?.offline ?? [];
  return (
    <Chart
      title="Authorizations per minute"
      label={describeAuthorizations({ online, offline })}
      unit="count"
      everyMinute
      minutes={t?.minutes ?? []}
      lines={[
        { label: 'online', color: ok, values: online },
        { label: 'offline', color: accent, dash: [6, 4], values: offline },
      ]}
      data={{ 'data-online': sum(online), 'data-offline': sum(offline) }}
    />
  );
}

/** A latency's median and 99th percentile per minute. */
function LatencyChart(p: { title: string; what: string; none: string; minutes: number[]; p50: Values; p99: Values }) {
  return (
    <Chart
      title={p.title}
      label={describeLatency(p.what, p.minutes, p.p50, p.p99, p.none)}
      unit="ms"
      minutes={p.minutes}
      lines={[
        { label: 'p50', color: color('--accent', '#0a4fa6'), values: p.p50 },
        { label: 'p99', color: color('--bad', '#a3161a'), dash: [6, 4], values: p.p99 },
      ]}
    />
  );
}

/** The Activity view: the fleet's charts over time beside the decisions list (#/activity). */
export function ActivityView() {
  const t = useTimeline();
  const ok = color('--ok', '#0b6b2f');
  const bad = color('--bad', '#a3161a');
  const accent = color('--accent', '#0a4fa6');
  const muted = color('--muted', '#4a5260');
  if (!t) return <p class="loading">Loading…</p>;
  const m = t.minutes;
  const latencies = [
    {
      title: 'Decision latency (online, at the hub)',
      what: 'Decision latency at the hub (online decisions)',
      none: 'no online decision measured',
      p50: t.decisionP50,
      p99: t.decisionP99,
    },
    {
      title: 'Sync latency (agent to hub)',
      what: 'Sync latency, agent to hub',
      none: 'no event applied',
      p50: t.syncP50,
      p99: t.syncP99,
    },
  ];
  return (
    <section class="activity" aria-labelledby="activity-title">
      <div class="section-head">
        <h2 id="activity-title">Activity</h2>
        <p class="summary">the whole fleet, last {MINUTES} minutes, per minute</p>
      </div>
      <div class="chart-grid">
        <Chart
          title="Authorization success rate"
          label={describeSuccess(t)}
          unit="share"
          minutes={m}
          lines={[{ label: 'authorized', color: ok, values: t.successRate }]}
        />
        {latencies.map((l) => (
          <LatencyChart key={l.title} minutes={m} {...l} />
        ))}
        <Chart
          title="Outbox depth across stores"
          label={describeOutbox(t)}
          unit="count"
          minutes={m}
          lines={[
            { label: 'all stores', color: accent, values: t.outboxTotal },
            { label: 'deepest store', color: muted, dash: [6, 4], values: t.outboxDeepest },
          ]}
        />
        <Chart
          title="Webhook deliveries"
          label={describeWebhooks(t)}
          unit="count"
          everyMinute
          minutes={m}
          lines={[
            { label: 'delivered', color: ok, values: t.delivered },
            { label: 'failed', color: accent, dash: [6, 4], values: t.failed },
            { label: 'abandoned', color: bad, dash: [2, 3], values: t.abandoned },
          ]}
        />
      </div>
    </section>
  );
}
